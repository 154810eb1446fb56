# Reads Prometheus text exposition on stdin with the Prometheus Python client's own parser
# (Debian's python3-prometheus-client) and prints its families as JSON; a line the parser
# refuses exits 1 with its message. Run with /usr/bin/python3 (Debian's, which has the module).
import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families

try:
    families = list(text_string_to_metric_families(sys.stdin.read()))
except Exception as e:  # the parser's ValueError for a bad line, or anything else it raises
    print(f"parse error: {e}", file=sys.stderr)
    sys.exit(1)


def number(v):
    return "+Inf" if v == math.inf else "-Inf" if v == -math.inf else "NaN" if math.isnan(v) else v


json.dump(
    [
        {
            "name": f.name,
            "type": f.type,
            "help": f.documentation,
            "samples": [{"name": s.name, "labels": s.labels, "value": number(s.value)} for s in f.samples],
        }
        for f in families
    ],
    sys.stdout,
)
