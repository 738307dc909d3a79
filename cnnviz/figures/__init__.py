"""Figures: pure functions from numbers (Snapshots, DataFrames, trajectories) to plotly Figures.

One module per kind of picture; no state, no I/O, never streamlit.
"""
