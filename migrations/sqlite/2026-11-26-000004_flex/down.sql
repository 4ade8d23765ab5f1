DROP TABLE report_rejects;
DROP TABLE telemetry;
DROP TABLE enrollments;
DROP TABLE sites;
