"""`meshc init [DIR]`: scaffold a repository for a new mesh (spec, Pulumi project, CI, pre-commit).

The files come from `templates/` (package data), with the mesh and project names filled in. Nothing
is written when any target exists already: `meshc init` never overwrites a file of yours.
"""
