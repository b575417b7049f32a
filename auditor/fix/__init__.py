"""`auditor fix`: turn findings into configured functions, as a second job beside the audit.

    plan.py     which functions of a report to fix (pure): the plan and its counts
    apply.py    one UpdateTracing per planned function, then one read-back, through the same
                request path, rate control and credential guard as an audit
    journal.py  `<name>.fix.journal.jsonl`: one line per function as it finishes (`--resume`)
    render.py   the plan's CSV and the fix report (JSON, CSV, XLSX), pure

The APM SK is read once from the environment by the CLI, handed to `apply` and sent only in
the PUT body: it is never part of a plan, a result, the journal, a report or a log line.
"""

from auditor.fix.apply import FixOutcome, FixResult, apply_fixes
from auditor.fix.plan import FixPlan, PlannedFix, plan_fixes

__all__ = ["FixOutcome", "FixPlan", "FixResult", "PlannedFix", "apply_fixes", "plan_fixes"]
