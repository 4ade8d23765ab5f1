DROP INDEX notifications_finished;
