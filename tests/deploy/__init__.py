"""The shipped process-manager files: Procfile, app.json, deploy/systemd/, deploy/README.md.

Each is checked for syntax and for agreeing with the code: the commands name files
that exist and options worker.py has, every variable set is one the code reads, the
systemd limits fit the worker's own, and the README maps every rule of the origin
story's god watch. `systemd-analyze verify` runs when it is installed.
"""
