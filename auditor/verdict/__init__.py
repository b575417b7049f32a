"""Stage 4, verdicts: what each answer means, and what the run's rows add up to.

classify.py    probe -> status (a pure rule table)
rows.py        the report row of a target and its final answer; the row codec
summary.py     counts by status, project and region
baseline.py    an earlier report compared URN by URN (`change`)
exemptions.py  exemption files: which findings are exempt, expired or unused entries
age.py         finding age: a function's standing before the run and after it (pure)
marking.py     each row marked (age, change, exemption) and counted once as it comes:
               `Criteria` in, `Marker` marks and counts, `RunVerdict` out
"""

from auditor.verdict.classify import classify
from auditor.verdict.rows import invalid_row, result_row
from auditor.verdict.summary import Summary, SummaryCounter, summarize

__all__ = ["Summary", "SummaryCounter", "classify", "invalid_row", "result_row", "summarize"]
