"""Stage 6, reports: pure tables and renderers, and the one writer module that touches the disk.

tables.py       the run's tables for the renderers (counts, settings, throttling)
json_render.py, csv_render.py, xlsx_render.py: the three formats; the XLSX's sheets in
                xlsx_summary.py, xlsx_changes.py, xlsx_trend.py, written with
                xlsx_cursor.py and xlsx_styles.py
inventory.py    the discovery inventory
writers.py      the only module here that writes files (temp file, then `os.replace`)
rebuild.py      reports again from a journal or a JSON report (`auditor report`)
merge.py        the shards of one estate merged into one report (`auditor report --merge`)
diff.py         two reports compared offline (`auditor diff`)
"""
