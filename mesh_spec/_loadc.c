/* The native check of the spec loader's fast path (meshc.spec.loader._plain): whether parsed data
 * is only JSON-like values (dicts with str or int keys, lists, str, int, bool, None and finite
 * floats, exact types only) nested at most `max_depth` deep. The same answer as the Python walk in
 * loader.py, which stays the reference and the fallback; ~10x faster on a 10,000-service spec. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>

static int walk(PyObject *item, int depth, int max_depth);

static int
value_ok(PyObject *sub, int depth, int max_depth)
{
    if (PyDict_CheckExact(sub) || PyList_CheckExact(sub)) {
        return walk(sub, depth + 1, max_depth);
    }
    if (PyFloat_CheckExact(sub)) {
        return isfinite(PyFloat_AS_DOUBLE(sub));
    }
    return PyUnicode_CheckExact(sub) || PyLong_CheckExact(sub) || PyBool_Check(sub) || sub == Py_None;
}

/* 1 when `item` (a container at `depth`) holds only plain data, 0 otherwise. */
static int
walk(PyObject *item, int depth, int max_depth)
{
    if (depth > max_depth) {
        return 0;
    }
    if (PyDict_CheckExact(item)) {
        Py_ssize_t pos = 0;
        PyObject *key, *value;
        while (PyDict_Next(item, &pos, &key, &value)) {
            if (!PyUnicode_CheckExact(key) && !PyLong_CheckExact(key)) {
                return 0;
            }
        }
        pos = 0;
        while (PyDict_Next(item, &pos, &key, &value)) {
            if (!value_ok(value, depth, max_depth)) {
                return 0;
            }
        }
        return 1;
    }
    if (PyList_CheckExact(item)) {
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(item); i++) {
            if (!value_ok(PyList_GET_ITEM(item, i), depth, max_depth)) {
                return 0;
            }
        }
        return 1;
    }
    return 0;
}

static PyObject *
loadc_plain(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *value;
    int max_depth;
    if (!PyArg_ParseTuple(args, "Oi:plain", &value, &max_depth)) {
        return NULL;
    }
    return PyBool_FromLong(walk(value, 1, max_depth));
}

/* Whether YAML text holds a token the fast parser treats more leniently than the careful path:
 * `&x`, `*x` or `!x` (an anchor, alias or tag), `<< :` (a merge key) or `? ` (a complex key), each
 * at the start of the text or after whitespace, `[`, `{` or `,`. Exactly the regular expression
 * loader._NEEDS_CAREFUL_PATH (whitespace as `str.isspace`, as `\s` is), without its per-sigil
 * Python calls. */
static int
is_space(Py_UCS4 c)
{
    return Py_UNICODE_ISSPACE(c);
}

static PyObject *
loadc_needs_careful_path(PyObject *module, PyObject *text)
{
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "needs_careful_path() takes a str");
        return NULL;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c != '&' && c != '*' && c != '!' && c != '?' && c != '<') {
            continue;
        }
        if (i > 0) {
            Py_UCS4 before = PyUnicode_READ(kind, data, i - 1);
            if (!(is_space(before) || before == '[' || before == '{' || before == ',')) {
                continue;
            }
        }
        if (c == '?') {
            if (i + 1 == n || is_space(PyUnicode_READ(kind, data, i + 1))) {
                Py_RETURN_TRUE;
            }
        } else if (c == '<') {
            if (i + 1 < n && PyUnicode_READ(kind, data, i + 1) == '<') {
                Py_ssize_t j = i + 2;
                while (j < n && is_space(PyUnicode_READ(kind, data, j))) {
                    j++;
                }
                if (j < n && PyUnicode_READ(kind, data, j) == ':') {
                    Py_RETURN_TRUE;
                }
            }
        } else if (i + 1 < n) {
            Py_UCS4 after = PyUnicode_READ(kind, data, i + 1);
            if (!(is_space(after) || after == '[' || after == ']' || after == '{' || after == '}' || after == ',')) {
                Py_RETURN_TRUE;
            }
        }
    }
    Py_RETURN_FALSE;
}

static PyMethodDef methods[] = {
    {"plain", loadc_plain, METH_VARARGS, "plain(value, max_depth) -> bool: see meshc.spec.loader._plain."},
    {"needs_careful_path", loadc_needs_careful_path, METH_O,
     "needs_careful_path(text) -> bool: see meshc.spec.loader._needs_careful_path."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "meshc.spec._loadc", "The native checks of the spec loader's fast path.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__loadc(void)
{
    return PyModule_Create(&module);
}
