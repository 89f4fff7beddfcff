"""Suite-wide set-up."""

import os

# hoppet (a test dependency) is Fortran: unless its stdout is unbuffered, its
# banner is flushed at process exit, after pytest's summary line, where CI reads
# the test counts. Unbuffered, pytest's fd capture swallows it during the test.
# Must be set before libgfortran loads, i.e. before hoppet is imported.
os.environ.setdefault("GFORTRAN_UNBUFFERED_PRECONNECTED", "y")
