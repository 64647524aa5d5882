/* The native walk of meshc's YAML emitter (meshc.compiler.emit): the same text as the Python
 * `_mapping`/`_sequence` walk, built in one UTF-8 buffer instead of a list of f-strings.
 *
 * It owns no YAML rule. Every decision about how a value is written stays in emit.py and is only
 * *used* from here: string scalars come from emit's `_scalar_cache` (emit's `_string` is called on
 * a miss and fills it), a mapping's sorted keys, their text and whether they need the explicit
 * form from emit's `_key_orders` (emit's `_key_order` on a miss), every scalar that is not a str
 * from emit's `_scalar` (which also raises the TypeError for what cannot be emitted), and shared
 * subtrees' text from sharedtext.SHARED. So the two walks cannot disagree on quoting; what is here
 * is only the layout: indentation, "- ", "key: ", "key:\n", "? key".
 *
 * The prefix of a value's first line ("  - - " and the like) is written to the buffer before the
 * value is walked: the current line's text since its start *is* Python's `first` argument, and
 * `indent` is always as many spaces as that prefix is long (see emit._render_shared).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    char *data;
    Py_ssize_t len;
    Py_ssize_t cap;
} Buffer;

/* emit.py's objects, set once by configure(). */
static PyObject *scalar_cache; /* dict str -> str */
static PyObject *string_fn;    /* emit._string(str) -> str */
static PyObject *scalar_fn;    /* emit._scalar(any) -> str */
static PyObject *key_orders;   /* dict tuple-of-keys -> tuple of (key, text, explicit) */
static PyObject *key_order_fn; /* emit._key_order(dict) -> tuple of (key, text, explicit) */
static PyObject *shared;       /* dict id -> (object, dict prefix -> text) */

static int
grow(Buffer *b, Py_ssize_t extra)
{
    Py_ssize_t need = b->len + extra;
    if (need <= b->cap) {
        return 0;
    }
    Py_ssize_t cap = b->cap ? b->cap : 4096;
    while (cap < need) {
        if (cap > PY_SSIZE_T_MAX / 2) {
            PyErr_NoMemory();
            return -1;
        }
        cap *= 2;
    }
    char *data = PyMem_Realloc(b->data, (size_t)cap);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

static inline int
put(Buffer *b, const char *s, Py_ssize_t n)
{
    if (b->len + n > b->cap && grow(b, n) < 0) {
        return -1;
    }
    memcpy(b->data + b->len, s, (size_t)n);
    b->len += n;
    return 0;
}

static inline int
put_char(Buffer *b, char c)
{
    if (b->len + 1 > b->cap && grow(b, 1) < 0) {
        return -1;
    }
    b->data[b->len++] = c;
    return 0;
}

static inline int
put_spaces(Buffer *b, Py_ssize_t n)
{
    if (b->len + n > b->cap && grow(b, n) < 0) {
        return -1;
    }
    memset(b->data + b->len, ' ', (size_t)n);
    b->len += n;
    return 0;
}

static inline int
put_str(Buffer *b, PyObject *s)
{
    if (!PyUnicode_Check(s)) {
        PyErr_Format(PyExc_TypeError, "emit: expected str text, got %.100s", Py_TYPE(s)->tp_name);
        return -1;
    }
    Py_ssize_t n;
    const char *utf8 = PyUnicode_AsUTF8AndSize(s, &n);
    if (utf8 == NULL) {
        return -1; /* lone surrogates cannot be encoded; emit escapes them, so never in its text */
    }
    return put(b, utf8, n);
}

/* The text of a string scalar: emit._scalar_cache.get(value) or emit._string(value). */
static int
put_string_scalar(Buffer *b, PyObject *value)
{
    PyObject *text = PyDict_GetItemWithError(scalar_cache, value);
    if (text != NULL && PyObject_IsTrue(text) == 1) {
        return put_str(b, text);
    }
    if (PyErr_Occurred()) {
        return -1;
    }
    text = PyObject_CallOneArg(string_fn, value);
    if (text == NULL) {
        return -1;
    }
    int rc = put_str(b, text);
    Py_DECREF(text);
    return rc;
}

/* The text of any other scalar (and of {} and [] and what cannot be emitted): emit._scalar. */
static int
put_scalar(Buffer *b, PyObject *value)
{
    if (PyUnicode_CheckExact(value)) {
        return put_string_scalar(b, value);
    }
    if (value == Py_True) {
        return put(b, "true", 4);
    }
    if (value == Py_False) {
        return put(b, "false", 5);
    }
    if (value == Py_None) {
        return put(b, "null", 4);
    }
    /* emit._scalar's `{}` and `[]`, for the empty ones only (a subclass goes to _scalar) */
    if (PyDict_CheckExact(value) && !PyDict_GET_SIZE(value)) {
        return put(b, "{}", 2);
    }
    if (PyList_CheckExact(value) && !PyList_GET_SIZE(value)) {
        return put(b, "[]", 2);
    }
    PyObject *text;
    if (PyLong_CheckExact(value)) {
        text = PyObject_Str(value); /* str(value), as emit._scalar */
    }
    else {
        text = PyObject_CallOneArg(scalar_fn, value);
    }
    if (text == NULL) {
        return -1;
    }
    int rc = put_str(b, text);
    Py_DECREF(text);
    return rc;
}

static int walk_mapping(Buffer *b, PyObject *value, Py_ssize_t indent);
static int walk_sequence(Buffer *b, PyObject *value, Py_ssize_t indent);

/* A non-empty dict or list whose first line's prefix is already written (it starts at
 * `line_start`); a shared subtree's text is reused or rendered once and remembered, keyed by that
 * prefix, as emit._render_shared does. `check_shared` is where the Python walk looks it up. */
static int
walk_collection(Buffer *b, PyObject *item, Py_ssize_t indent, Py_ssize_t line_start, int check_shared)
{
    int is_dict = PyDict_CheckExact(item);
    PyObject *texts = NULL;
    PyObject *first = NULL;
    if (check_shared && PyDict_GET_SIZE(shared)) {
        PyObject *id = PyLong_FromVoidPtr(item);
        if (id == NULL) {
            return -1;
        }
        PyObject *entry = PyDict_GetItemWithError(shared, id);
        Py_DECREF(id);
        if (entry == NULL && PyErr_Occurred()) {
            return -1;
        }
        if (entry != NULL) {
            if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) != 2 ||
                !PyDict_Check(PyTuple_GET_ITEM(entry, 1))) {
                PyErr_SetString(PyExc_TypeError, "emit: malformed sharedtext.SHARED entry");
                return -1;
            }
            texts = PyTuple_GET_ITEM(entry, 1);
            first = PyUnicode_DecodeUTF8(b->data + line_start, b->len - line_start, NULL);
            if (first == NULL) {
                return -1;
            }
            PyObject *text = PyDict_GetItemWithError(texts, first);
            if (text != NULL) {
                Py_DECREF(first);
                b->len = line_start; /* the text starts with the prefix */
                return put_str(b, text);
            }
            if (PyErr_Occurred()) {
                Py_DECREF(first);
                return -1;
            }
            Py_INCREF(texts); /* held while the walk may call into Python */
        }
    }
    int rc = is_dict ? walk_mapping(b, item, indent) : walk_sequence(b, item, indent);
    if (texts != NULL) {
        if (rc == 0) {
            PyObject *text = PyUnicode_DecodeUTF8(b->data + line_start, b->len - line_start, NULL);
            if (text == NULL || PyDict_SetItem(texts, first, text) < 0) {
                rc = -1;
            }
            Py_XDECREF(text);
        }
        Py_DECREF(texts);
        Py_DECREF(first);
    }
    return rc;
}

static inline int
nonempty_collection(PyObject *item)
{
    return (PyDict_CheckExact(item) && PyDict_GET_SIZE(item)) ||
           (PyList_CheckExact(item) && PyList_GET_SIZE(item));
}

/* `? key` then `: value`: keys too long for an implicit key (emit._explicit_entry). */
static int
walk_explicit_entry(Buffer *b, PyObject *k, PyObject *item, Py_ssize_t indent)
{
    if (put(b, "? ", 2) < 0 || put_str(b, k) < 0 || put_char(b, '\n') < 0 || put_spaces(b, indent) < 0) {
        return -1;
    }
    if (nonempty_collection(item)) {
        if (put(b, ":\n", 2) < 0 || put_spaces(b, indent + 2) < 0) {
            return -1;
        }
        return walk_collection(b, item, indent + 2, b->len - (indent + 2), 0);
    }
    if (put(b, ": ", 2) < 0 || put_scalar(b, item) < 0) {
        return -1;
    }
    return put_char(b, '\n');
}

static PyObject *
key_order(PyObject *value)
{
    Py_ssize_t n = PyDict_GET_SIZE(value);
    PyObject *shape = PyTuple_New(n);
    if (shape == NULL) {
        return NULL;
    }
    Py_ssize_t pos = 0, i = 0;
    PyObject *key, *item;
    while (PyDict_Next(value, &pos, &key, &item)) {
        Py_INCREF(key);
        PyTuple_SET_ITEM(shape, i++, key);
    }
    PyObject *found = PyDict_GetItemWithError(key_orders, shape);
    Py_DECREF(shape);
    if (found != NULL && PyObject_IsTrue(found) == 1) {
        Py_INCREF(found);
        return found;
    }
    if (PyErr_Occurred()) {
        return NULL;
    }
    return PyObject_CallOneArg(key_order_fn, value);
}

static int
walk_mapping(Buffer *b, PyObject *value, Py_ssize_t indent)
{
    if (Py_EnterRecursiveCall(" while emitting YAML")) {
        return -1;
    }
    Py_INCREF(value);
    int rc = -1;
    PyObject *order = key_order(value);
    if (order == NULL) {
        goto done;
    }
    if (!PyTuple_Check(order)) {
        PyErr_SetString(PyExc_TypeError, "emit: a key order must be a tuple");
        goto done;
    }
    Py_ssize_t deeper = indent + 2;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(order); i++) {
        PyObject *entry = PyTuple_GET_ITEM(order, i);
        if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) != 3) {
            PyErr_SetString(PyExc_TypeError, "emit: a key order entry must be (key, text, explicit)");
            goto done;
        }
        if (i && put_spaces(b, indent) < 0) {
            goto done;
        }
        PyObject *k = PyTuple_GET_ITEM(entry, 1);
        PyObject *item = PyDict_GetItemWithError(value, PyTuple_GET_ITEM(entry, 0));
        if (item == NULL) {
            if (!PyErr_Occurred()) {
                PyErr_SetObject(PyExc_KeyError, PyTuple_GET_ITEM(entry, 0));
            }
            goto done;
        }
        Py_INCREF(item);
        int explicit = PyObject_IsTrue(PyTuple_GET_ITEM(entry, 2));
        int ok;
        if (explicit < 0) {
            ok = -1;
        }
        else if (explicit) {
            ok = walk_explicit_entry(b, k, item, indent);
        }
        else if (PyUnicode_CheckExact(item)) {
            ok = (put_str(b, k) < 0 || put(b, ": ", 2) < 0 || put_string_scalar(b, item) < 0 ||
                  put_char(b, '\n') < 0)
                     ? -1
                     : 0;
        }
        else if (nonempty_collection(item)) {
            ok = (put_str(b, k) < 0 || put(b, ":\n", 2) < 0 || put_spaces(b, deeper) < 0)
                     ? -1
                     : walk_collection(b, item, deeper, b->len - deeper, 1);
        }
        else {
            ok = (put_str(b, k) < 0 || put(b, ": ", 2) < 0 || put_scalar(b, item) < 0 ||
                  put_char(b, '\n') < 0)
                     ? -1
                     : 0;
        }
        Py_DECREF(item);
        if (ok < 0) {
            goto done;
        }
    }
    rc = 0;
done:
    Py_XDECREF(order);
    Py_DECREF(value);
    Py_LeaveRecursiveCall();
    return rc;
}

static int
walk_sequence(Buffer *b, PyObject *value, Py_ssize_t indent)
{
    if (Py_EnterRecursiveCall(" while emitting YAML")) {
        return -1;
    }
    Py_INCREF(value);
    int rc = -1;
    Py_ssize_t inner = indent + 2;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(value); i++) {
        PyObject *item = PyList_GET_ITEM(value, i);
        Py_INCREF(item);
        Py_ssize_t line_start = b->len - (i ? 0 : indent);
        int ok;
        if ((i && put_spaces(b, indent) < 0) || put(b, "- ", 2) < 0) {
            ok = -1;
        }
        else if (PyDict_CheckExact(item) && PyDict_GET_SIZE(item)) {
            ok = walk_collection(b, item, inner, line_start, 1);
        }
        else if (PyList_CheckExact(item) && PyList_GET_SIZE(item)) {
            ok = walk_collection(b, item, inner, line_start, 0);
        }
        else {
            ok = (put_scalar(b, item) < 0 || put_char(b, '\n') < 0) ? -1 : 0;
        }
        Py_DECREF(item);
        if (ok < 0) {
            goto done;
        }
    }
    rc = 0;
done:
    Py_DECREF(value);
    Py_LeaveRecursiveCall();
    return rc;
}

static PyObject *
emitc_dump(PyObject *module, PyObject *value)
{
    if (scalar_cache == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "meshc.compiler._emitc: configure() was not called");
        return NULL;
    }
    if (!PyDict_CheckExact(value) || !PyDict_GET_SIZE(value)) {
        /* the Python dump: `if not value: return "{}\n"`, then a mapping */
        int empty = PyObject_Not(value);
        if (empty < 0) {
            return NULL;
        }
        if (empty) {
            return PyUnicode_FromString("{}\n");
        }
        if (!PyDict_Check(value)) {
            PyErr_Format(PyExc_TypeError, "cannot emit a document of type %.100s", Py_TYPE(value)->tp_name);
            return NULL;
        }
    }
    Buffer b = {NULL, 0, 0};
    if (walk_mapping(&b, value, 0) < 0) {
        PyMem_Free(b.data);
        return NULL;
    }
    PyObject *text = PyUnicode_DecodeUTF8(b.data ? b.data : "", b.len, NULL);
    PyMem_Free(b.data);
    return text;
}

static PyObject *
emitc_configure(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"scalar_cache", "string", "scalar", "key_orders", "key_order", "shared", NULL};
    PyObject *a, *s, *sc, *ko, *kf, *sh;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!OOO!OO!:configure", names, &PyDict_Type, &a, &s,
                                     &sc, &PyDict_Type, &ko, &kf, &PyDict_Type, &sh)) {
        return NULL;
    }
    Py_INCREF(a);
    Py_XSETREF(scalar_cache, a);
    Py_INCREF(s);
    Py_XSETREF(string_fn, s);
    Py_INCREF(sc);
    Py_XSETREF(scalar_fn, sc);
    Py_INCREF(ko);
    Py_XSETREF(key_orders, ko);
    Py_INCREF(kf);
    Py_XSETREF(key_order_fn, kf);
    Py_INCREF(sh);
    Py_XSETREF(shared, sh);
    Py_RETURN_NONE;
}

/* --- folder_entries: one folder of an output tree, as outdir.folder_entries describes it --------- */

static int
compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
put_le(unsigned char *out, uint64_t value, int bytes)
{
    for (int i = 0; i < bytes; i++) {
        out[i] = (unsigned char)(value >> (8 * i));
    }
}

static void
free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
}

/* The entries of a folder, sorted by name, each as bytes (see outdir.folder_entries for the
 * layout, which the Python fallback writes alike), and the names of the regular files whose mtime
 * is at least `racy_ns`; None when the folder cannot be opened (a symlink is never followed) or
 * listed, or an entry vanishes while it is read. */
static PyObject *
emitc_folder_entries(PyObject *module, PyObject *args)
{
    PyObject *path_bytes;
    long long racy_ns;
    if (!PyArg_ParseTuple(args, "O&L:folder_entries", PyUnicode_FSConverter, &path_bytes, &racy_ns)) {
        return NULL;
    }
    int fd;
    Py_BEGIN_ALLOW_THREADS
    fd = open(PyBytes_AS_STRING(path_bytes), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    Py_END_ALLOW_THREADS
    Py_DECREF(path_bytes);
    if (fd < 0) {
        Py_RETURN_NONE;
    }
    DIR *dir = fdopendir(fd);
    if (dir == NULL) {
        close(fd);
        Py_RETURN_NONE;
    }
    size_t n = 0, cap = 64;
    char **names = malloc(cap * sizeof(char *));
    int failed = names == NULL;
    while (!failed) {
        errno = 0; /* before each call: only readdir's own failure may count below */
        struct dirent *entry = readdir(dir);
        if (entry == NULL) {
            if (errno != 0) {
                failed = 2; /* readdir failed: the listing is incomplete */
            }
            break;
        }
        const char *name = entry->d_name;
        if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))) {
            continue;
        }
        if (n == cap) {
            char **more = realloc(names, 2 * cap * sizeof(char *));
            if (more == NULL) {
                failed = 1;
                break;
            }
            names = more;
            cap *= 2;
        }
        if ((names[n] = strdup(name)) == NULL) {
            failed = 1;
            break;
        }
        n++;
    }
    if (failed == 1) {
        closedir(dir);
        free_names(names, n);
        return PyErr_NoMemory();
    }
    if (failed) {
        closedir(dir);
        free_names(names, n);
        Py_RETURN_NONE;
    }
    qsort(names, n, sizeof(char *), compare_names);
    PyObject *entries = PyList_New((Py_ssize_t)n);
    PyObject *racy = PyList_New(0);
    PyObject *result = NULL;
    if (entries == NULL || racy == NULL) {
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (fstatat(dirfd(dir), names[i], &st, AT_SYMLINK_NOFOLLOW) != 0) {
            result = Py_None; /* vanished or unreadable: this folder is not as recorded */
            Py_INCREF(result);
            goto done;
        }
        size_t len = strlen(names[i]);
        int is_dir = S_ISDIR(st.st_mode);
        Py_ssize_t size = (Py_ssize_t)(len + 2 + (is_dir ? 0 : 36));
        PyObject *item = PyBytes_FromStringAndSize(NULL, size);
        if (item == NULL) {
            goto done;
        }
        unsigned char *out = (unsigned char *)PyBytes_AS_STRING(item);
        memcpy(out, names[i], len);
        out[len] = '\0';
        if (is_dir) {
            out[len + 1] = 'd';
        } else {
            int64_t mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
            out[len + 1] = S_ISREG(st.st_mode) ? 'f' : 'o';
            put_le(out + len + 2, (uint64_t)st.st_mode, 4);
            put_le(out + len + 6, (uint64_t)st.st_dev, 8);
            put_le(out + len + 14, (uint64_t)st.st_ino, 8);
            put_le(out + len + 22, (uint64_t)(int64_t)st.st_size, 8);
            put_le(out + len + 30, (uint64_t)mtime_ns, 8);
            if (S_ISREG(st.st_mode) && mtime_ns >= racy_ns) {
                PyObject *name = PyUnicode_DecodeFSDefaultAndSize(names[i], (Py_ssize_t)len);
                if (name == NULL || PyList_Append(racy, name) != 0) {
                    Py_XDECREF(name);
                    Py_DECREF(item);
                    goto done;
                }
                Py_DECREF(name);
            }
        }
        PyList_SET_ITEM(entries, (Py_ssize_t)i, item);
    }
    result = PyTuple_Pack(2, entries, racy);
done:
    closedir(dir);
    free_names(names, n);
    Py_XDECREF(entries);
    Py_XDECREF(racy);
    return result;
}

/* reused_manifests(rows, manifest_type, setters, body_type, set_address) -> list: for each row
 * (kind, namespace, name, cluster, owner, address), `object.__new__(manifest_type)` with its six
 * slots set through the member descriptors in `setters` (kind, namespace, name, cluster, owner,
 * body), the body `dict.__new__(body_type)` with its address set through `set_address`: what
 * buildcache.reused_manifests does in Python, without the interpreter between the calls. */
static PyObject *
emitc_reused_manifests(PyObject *module, PyObject *args)
{
    PyObject *rows, *setters, *set_address;
    PyTypeObject *manifest_type, *body_type;
    if (!PyArg_ParseTuple(args, "O!O!O!O!O:reused_manifests", &PyList_Type, &rows, &PyType_Type,
                          &manifest_type, &PyTuple_Type, &setters, &PyType_Type, &body_type,
                          &set_address)) {
        return NULL;
    }
    if (PyTuple_GET_SIZE(setters) != 6 || !PyType_IsSubtype(body_type, &PyDict_Type)) {
        PyErr_SetString(PyExc_TypeError, "reused_manifests: six slot setters and a dict subclass");
        return NULL;
    }
    PyObject *descr[6];
    descrsetfunc set[6];
    for (int k = 0; k < 6; k++) {
        descr[k] = PyTuple_GET_ITEM(setters, k);
        set[k] = Py_TYPE(descr[k])->tp_descr_set;
        if (set[k] == NULL) {
            PyErr_SetString(PyExc_TypeError, "reused_manifests: a setter is not a data descriptor");
            return NULL;
        }
    }
    descrsetfunc set_addr = Py_TYPE(set_address)->tp_descr_set;
    if (set_addr == NULL) {
        PyErr_SetString(PyExc_TypeError, "reused_manifests: set_address is not a data descriptor");
        return NULL;
    }
    PyObject *empty = PyTuple_New(0);
    if (empty == NULL) {
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(rows);
    PyObject *out = PyList_New(n); /* items NULL until set: freed as such on failure */
    if (out == NULL) {
        Py_DECREF(empty);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *row = PyList_GET_ITEM(rows, i);
        if (!PyTuple_CheckExact(row) || PyTuple_GET_SIZE(row) != 6) {
            PyErr_SetString(PyExc_TypeError, "reused_manifests: a row is not a tuple of six");
            goto fail;
        }
        PyObject *m = PyBaseObject_Type.tp_new(manifest_type, empty, NULL);
        if (m == NULL) {
            goto fail;
        }
        PyList_SET_ITEM(out, i, m);
        PyObject *body = PyDict_Type.tp_new(body_type, empty, NULL);
        if (body == NULL) {
            goto fail;
        }
        int failed = set_addr(set_address, body, PyTuple_GET_ITEM(row, 5)) < 0;
        for (int k = 0; k < 5 && !failed; k++) {
            failed = set[k](descr[k], m, PyTuple_GET_ITEM(row, k)) < 0;
        }
        failed = failed || set[5](descr[5], m, body) < 0;
        Py_DECREF(body);
        if (failed) {
            goto fail;
        }
    }
    Py_DECREF(empty);
    return out;
fail:
    Py_DECREF(empty);
    Py_DECREF(out);
    return NULL;
}

/* The build cache's files are mapped (buildcache._read). meshc never changes them in place, but
 * someone else may (a copy or restore over the cache directory while a compile runs): a read of a
 * page a truncation took away raises SIGBUS, which would end the process with no word. The ranges
 * of the mappings are noted here, and a SIGBUS inside one writes meshc's diagnostic and exits with
 * its code (async-signal-safe: write and _exit only); any other SIGBUS gets the handler that was
 * there before (restored, the fault happens again on return). A range stays noted after its
 * mapping is closed, until a cache file mapped later overlaps it: only a file mapping raises
 * SIGBUS, meshc maps no file but the cache's, and another mapping in that range (a shared library
 * loaded there, truncated under the process) would only get the cache's words on an end it meets
 * anyway. */
#define GUARDED_MAX 64
typedef struct {
    uintptr_t start, end;
    char *message; /* what to write on a SIGBUS in the range (malloc'd), and the exit code */
    size_t message_len;
    int code;
} Guarded;
static Guarded guarded[GUARDED_MAX];
static volatile sig_atomic_t guarded_count;
static struct sigaction guard_previous;
static int guard_installed;

static void
guard_on_bus(int sig, siginfo_t *info, void *context)
{
    (void)sig;
    (void)context;
    uintptr_t at = (uintptr_t)info->si_addr;
    for (int i = 0; i < guarded_count; i++) {
        if (at >= guarded[i].start && at < guarded[i].end) {
            ssize_t ignored = write(2, guarded[i].message, guarded[i].message_len);
            (void)ignored;
            _exit(guarded[i].code);
        }
    }
    sigaction(SIGBUS, &guard_previous, NULL);
}

/* Drop entry i (its range is no longer a mapping of the cache). */
static void
guard_drop(int i)
{
    free(guarded[i].message);
    for (int j = i + 1; j < guarded_count; j++) {
        guarded[j - 1] = guarded[j];
    }
    guarded_count = guarded_count - 1;
}

static PyObject *
emitc_guard_mapping(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *mapping;
    const char *message;
    Py_ssize_t message_len;
    int code;
    if (!PyArg_ParseTuple(args, "Oy#i", &mapping, &message, &message_len, &code)) {
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(mapping, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    uintptr_t start = (uintptr_t)view.buf;
    uintptr_t end = start + (uintptr_t)view.len;
    PyBuffer_Release(&view);
    char *copy = malloc((size_t)message_len);
    if (copy == NULL) {
        return PyErr_NoMemory();
    }
    memcpy(copy, message, (size_t)message_len);
    if (!guard_installed) {
        struct sigaction action;
        memset(&action, 0, sizeof(action));
        action.sa_sigaction = guard_on_bus;
        action.sa_flags = SA_SIGINFO;
        sigemptyset(&action.sa_mask);
        if (sigaction(SIGBUS, &action, &guard_previous) != 0) {
            free(copy);
            return PyErr_SetFromErrno(PyExc_OSError);
        }
        guard_installed = 1;
    }
    /* A range noted before that overlaps this one was a mapping closed since (two live mappings
     * never overlap); when the table is full, the oldest entry goes (a long-lived process, such
     * as a test run, maps caches one after another). */
    for (int i = guarded_count - 1; i >= 0; i--) {
        if (guarded[i].start < end && start < guarded[i].end) {
            guard_drop(i);
        }
    }
    if (guarded_count >= GUARDED_MAX) {
        guard_drop(0);
    }
    Guarded entry = {start, end, copy, (size_t)message_len, code};
    guarded[guarded_count] = entry;
    guarded_count = guarded_count + 1;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"reused_manifests", emitc_reused_manifests, METH_VARARGS,
     "reused_manifests(rows, manifest_type, setters, body_type, set_address) -> list: see "
     "buildcache.reused_manifests."},
    {"dump", emitc_dump, METH_O, "dump(value: dict) -> str: emit.dump's text, walked natively."},
    {"configure", (PyCFunction)(void (*)(void))emitc_configure, METH_VARARGS | METH_KEYWORDS,
     "configure(*, scalar_cache, string, scalar, key_orders, key_order, shared): emit.py's rules."},
    {"folder_entries", emitc_folder_entries, METH_VARARGS,
     "folder_entries(path, racy_ns) -> (entries, racy names) | None: see outdir.folder_entries."},
    {"guard_mapping", emitc_guard_mapping, METH_VARARGS,
     "guard_mapping(mapping, message, code): a SIGBUS inside the mapping writes message to stderr "
     "and exits with code."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "meshc.compiler._emitc",
    "The native walk of meshc's YAML emitter (see meshc.compiler.emit).",
    -1,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__emitc(void)
{
    return PyModule_Create(&module);
}
