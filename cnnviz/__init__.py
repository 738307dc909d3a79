"""cnnviz: see inside a convolutional network while it trains.

The library never imports streamlit: the dashboard (``dashboard/``) is a thin layer
of widgets over these modules, and the same functions serve the CLI
(``python -m cnnviz``), HTML reports, notebooks and tests.
"""

__version__ = "0.1.0"
