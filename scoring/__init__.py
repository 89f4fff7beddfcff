"""jpsi-score: files of kinematic points (Parquet or CSV) scored chunk by chunk, in this
process, on a Dask cluster or through a running service, into one Parquet file.

``score_file(INPUT, OUTPUT, Scorer(...), backend=...)`` is the Python entry point;
``jpsi-score`` (``scoring.__main__``) the command. Imports the exact engine (``physics``)
and the client (``jpsi_client``), never the web application.
"""

from scoring.engine import Scorer
from scoring.files import ScoreError
from scoring.run import score_file

__all__ = ["ScoreError", "Scorer", "score_file"]
