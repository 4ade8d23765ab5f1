# Sourced by bench/run.sh: the request bodies of the write benchmarks.
# (c) a VEN's report on event $1; (d) an operator's event in program $1, targeted at the benchmark VEN's group.
report_body() { printf '{"eventID":"%s","clientName":"bench-site","resources":[{"resourceName":"AGGREGATED_REPORT","intervalPeriod":{"start":"2030-01-01T00:00:00Z","duration":"PT15M"},"intervals":[{"id":0,"payloads":[{"type":"USAGE","values":[1250.5]}]}]}]}' "$1"; }
event_body() { printf '{"programID":"%s","eventName":"load","targets":["group-ven"],"intervalPeriod":{"start":"2030-01-01T00:00:00Z","duration":"PT1H"},"intervals":[{"id":0,"payloads":[{"type":"SIMPLE","values":[1]}]}]}' "$1"; }
