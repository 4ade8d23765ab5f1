#!/usr/bin/env python3
"""Seeds a running Sluice for the benchmark through its own API.

usage: seed.py BASE OPERATOR_TOKEN VEN_CLIENT_ID PROGRAMS EVENTS [--existing-programs]
Creates PROGRAMS programs and EVENTS events spread over them: three in four are visible to the VEN (untargeted
or targeted at its group), one in four is targeted at another group. Prints one JSON line: program ids and the
id of an event the VEN can see.
"""
import http.client
import json
import sys
import urllib.parse


def main():
    base, token, ven_client, n_programs, n_events = sys.argv[1:6]
    existing = "--existing-programs" in sys.argv
    n_programs, n_events = int(n_programs), int(n_events)
    url = urllib.parse.urlparse(base)
    conn = http.client.HTTPConnection(url.hostname, url.port)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def call(method, path, body=None):
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        if resp.status >= 300:
            sys.exit(f"{method} {path}: {resp.status} {data[:300]!r}")
        return json.loads(data)

    if existing:
        programs = [p["id"] for p in call("GET", "/programs?limit=50")]
    else:
        programs = [call("POST", "/programs", {"programName": f"bench-program-{i}"})["id"] for i in range(n_programs)]
        call("POST", "/vens", {"objectType": "BL_VEN_REQUEST", "clientID": ven_client, "venName": "bench-site",
                               "targets": ["group-ven"]})
    visible = None
    for i in range(n_events):
        kind = i % 4
        targets = None if kind == 0 else (["group-ven", "group-x"] if kind in (1, 2) else ["group-other"])
        body = {
            "programID": programs[i % len(programs)],
            "eventName": f"bench-event-{i}",
            "priority": i % 3,
            "intervalPeriod": {"start": "2030-01-01T00:00:00Z", "duration": "PT1H"},
            "intervals": [{"id": 0, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [5000]},
                                                  {"type": "SIMPLE", "values": [2]}]}],
            "reportDescriptors": [{"payloadType": "USAGE", "readingType": "DIRECT_READ", "units": "KWH"}],
        }
        if targets:
            body["targets"] = targets
        e = call("POST", "/events", body)
        if kind != 3 and visible is None:
            visible = e["id"]
    print(json.dumps({"programs": programs, "visible_event": visible}))


if __name__ == "__main__":
    main()
