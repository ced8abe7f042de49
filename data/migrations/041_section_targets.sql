-- issue 15: the target class of each official water section (the GB 3838-2002 class the section is
-- assessed against, from the water-function zoning or the assessment plan), shown beside the
-- section's released class on the public water page. Set with `envtrust release target`.
CREATE TABLE IF NOT EXISTS section_targets (
    station_id      VARCHAR PRIMARY KEY,
    target_class    INTEGER NOT NULL CHECK (target_class BETWEEN 1 AND 5),  -- 1..5 = I..V
    basis           VARCHAR NOT NULL,          -- where the target comes from (plan, zoning, demo assumption)
    set_at          TIMESTAMP NOT NULL,
    set_by          VARCHAR NOT NULL
);
