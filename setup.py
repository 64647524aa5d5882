"""The one thing pyproject.toml cannot say without setuptools' experimental `ext-modules` table
(setuptools >= 74.1, which warns that it will change): the optional C extensions.

`meshc.compiler._emitc` is the native walk of the YAML emitter and of an output folder's entries
(compiler/_emitc.c; see meshc.compiler.emit and meshc.compiler.outdir); `meshc.spec._loadc` the
native check of the loader's fast path (mesh_spec/_loadc.c; see meshc.spec.loader). Both are
optional: where there is no C compiler or no Python headers the build goes on without them and
meshc does the same in Python. Everything else is in pyproject.toml.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("meshc.compiler._emitc", sources=["compiler/_emitc.c"], optional=True),
        Extension("meshc.spec._loadc", sources=["mesh_spec/_loadc.c"], optional=True),
    ],
)
