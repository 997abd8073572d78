"""pySigma is a tenth of an idle daemon's memory: it is imported only when Sigma rules are configured."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]

PROBE = """
import sys
from pathlib import Path
from pii_guard.config.load import load_config
from pii_guard.detection.build import policy_for
from pii_guard.enrich.enricher import Enricher
config = load_config(Path(sys.argv[1])).config
policy = policy_for(config, Enricher.from_config(config))
print(len(policy.detectors), "sigma" in sys.modules)
"""


def _probe(config: Path) -> tuple[int, bool]:
    done = subprocess.run([sys.executable, "-c", PROBE, str(config)], capture_output=True, text=True, check=True,
                          cwd=ROOT)
    detectors, imported = done.stdout.split()
    return int(detectors), imported == "True"


def test_pysigma_is_loaded_only_for_sigma_rules(tmp_path: Path) -> None:
    quickstart = ROOT / "examples" / "quickstart.yaml"
    without, imported = _probe(quickstart)
    assert not imported
    with_rules = tmp_path / "pii-guard.yaml"
    text = quickstart.read_text().replace("../rules/", f"{ROOT}/rules/").replace("logs/", f"{ROOT}/examples/logs/")
    with_rules.write_text(text.replace("policy:\n", f"policy:\n  sigma: [{ROOT}/rules/sigma]\n"))
    more, imported = _probe(with_rules)
    assert imported
    assert more > without
