"""Stage 1, reading inputs: what to audit.

    urn.py       the URN grammar: parse and validate (`FunctionUrn`, `parse_urn`)
    readers.py   the four input formats (text, CSV, XLSX, JSON), each into `Entry`s
    inputs.py    open the inputs (files or stdin), sniff formats, merge duplicates (`read_inputs`)
    targets.py   the distinct targets, compact: one URN string per entry (`Targets`)
    listing.py   ListFunctions pages read, their stop rules, and the entries a listing gives

Nothing is re-exported here: the data model is made of `urn`, so this package stays light.
"""
