"""The one thing pyproject.toml cannot say without setuptools' experimental `ext-modules` table
(setuptools >= 74.1, which warns that it will change): the optional C extension.

`meshc.compiler._emitc` is the native walk of the YAML emitter (compiler/_emitc.c; see
meshc.compiler.emit). It is optional: where there is no C compiler or no Python headers the build
goes on without it and meshc uses the same emitter in Python. Everything else is in pyproject.toml.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[Extension("meshc.compiler._emitc", sources=["compiler/_emitc.c"], optional=True)],
)
