-- One database per service: no service ever reads another's (they talk only through Kafka).
-- The postgres image runs this once, when it initialises an empty data volume; the services'
-- `migrate` one-shots then create the tables. Owned by POSTGRES_USER, who runs this script.
CREATE DATABASE accord_plans;
CREATE DATABASE accord_meetings;
CREATE DATABASE accord_notifications;
