"""Run a Python file (argv[2]) with its own folder (argv[1]) as the working directory: how the
tests run the README's examples in a process of their own."""

import os
import runpy
import sys

os.chdir(sys.argv[1])
runpy.run_path(sys.argv[2], run_name="__main__")
