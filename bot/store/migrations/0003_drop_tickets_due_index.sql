-- 0003: drop the index that served Store.tickets_due, which nothing calls any more
-- (the poller schedules tickets from list_tickets). One index less to write per check.
DROP INDEX IF EXISTS tickets_due;
