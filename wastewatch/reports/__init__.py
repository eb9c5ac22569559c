"""Monthly reports for planners (`wastewatch report --month YYYY-MM --out DIR`).

``data`` reads the month through the read-only role, ``plots`` draws it with
matplotlib, ``report`` writes the self-contained HTML page, the PNGs and the PDF.
"""
