DROP TABLE event_latency;
DROP TABLE event_seen;
DROP TABLE dispatch_sites;
DROP TABLE dispatches;
