DROP TABLE statements;
DROP TABLE settlement_runs;
DROP TABLE settlement_rules;
DROP TABLE price_points;
DROP TABLE meter_days;
DROP TABLE meter_imports;
