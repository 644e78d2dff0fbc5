WITH _lr_level1 AS (
  SELECT
    *,
    (
      `death_date` IS NULL
    ) OR (
      `death_date` >= CAST('2028-01-01' AS DATE)
    ) AS `c:alive`,
    `residence`.`county_fips` IN ('37063', '37135') AS `c:in_service_area@ACO-A`,
    `residence`.`county_fips` IN ('37063', '37183') AS `c:in_service_area@ACO-B`,
    TRANSFORM(
      ARRAY(
        FILTER(
          TRANSFORM(
            FILTER(`voluntary`, _x6 -> NOT _x6.`date` IS NULL),
            _x6 -> STRUCT(_x6.`tin` AS `v`, _x6.`date` AS `s1`)
          ),
          _x7 -> NOT _x7.`s1` IS NULL
        )
      ),
      _x8 -> TRANSFORM(
        ARRAY(ARRAY_MAX(TRANSFORM(_x8, _x9 -> _x9.`s1`))),
        _x10 -> TRANSFORM(
          ARRAY(TRANSFORM(FILTER(_x8, _x11 -> _x11.`s1` = _x10), _x7 -> _x7.`v`)),
          _x12 -> CASE
            WHEN (
              ARRAY_MIN(_x12) = ARRAY_MAX(_x12)
            )
            AND (
              SIZE(FILTER(_x12, _x13 -> _x13 IS NULL)) = 0
            )
            THEN ARRAY_MIN(_x12)
            ELSE CAST(NULL AS STRING)
          END
        )[0]
      )[0]
    )[0] AS `d:latest_designation_tin`,
    FILTER(
      `claims`,
      _x14 -> (
        _x14.`hcpcs` IN (
          '99202',
          '99203',
          '99204',
          '99205',
          '99211',
          '99212',
          '99213',
          '99214',
          '99215',
          'G0438',
          'G0439'
        )
      )
      AND (
        YEAR(_x14.`from_date`) = 2027
      )
    ) AS `d:pc_claims`,
    FILTER(`months`, _x1 -> SUBSTRING(_x1.`month`, 1, 4) = '2027') AS `d:window_months`
  FROM population
), _lr_level2 AS (
  SELECT
    *,
    `d:latest_designation_tin` IN ('111111111', '111111112') AS `c:designated_here@ACO-A`,
    `d:latest_designation_tin` IN ('222222222') AS `c:designated_here@ACO-B`,
    CASE ARRAY_MIN(
        TRANSFORM(
          `d:window_months`,
          _x5 -> CASE _x5.`hmo` IN ('0', '4') WHEN TRUE THEN 2 WHEN FALSE THEN 0 ELSE 1 END
        )
      )
      WHEN 0
      THEN FALSE
      WHEN 1
      THEN CAST(NULL AS BOOLEAN)
      ELSE TRUE
    END AS `c:not_in_ma`,
    (
      SIZE(`d:window_months`) > 0
    )
    AND CASE ARRAY_MIN(
        TRANSFORM(
          `d:window_months`,
          _x3 -> CASE _x3.`buyin` IN ('3', 'C') WHEN TRUE THEN 2 WHEN FALSE THEN 0 ELSE 1 END
        )
      )
      WHEN 0
      THEN FALSE
      WHEN 1
      THEN CAST(NULL AS BOOLEAN)
      ELSE TRUE
    END AS `c:part_a_and_b`,
    TRANSFORM(
      ARRAY(
        TRANSFORM(`d:pc_claims`, _x15 -> STRUCT(_x15.`tin` AS `k`, _x15.`allowed` AS `v`))
      ),
      _x16 -> TRANSFORM(
        ARRAY_SORT(
          ARRAY_DISTINCT(FILTER(TRANSFORM(_x16, _x17 -> _x17.`k`), _x17 -> NOT _x17 IS NULL))
        ),
        _x19 -> STRUCT(
          _x19 AS `key`,
          AGGREGATE(
            TRANSFORM(FILTER(_x16, _x18 -> _x18.`k` = _x19), _x18 -> _x18.`v`),
            CAST(NULL AS DECIMAL(38, 2)),
            (_x20, _x21) -> CAST(CASE WHEN _x21 IS NULL THEN _x20 WHEN _x20 IS NULL THEN _x21 ELSE _x20 + _x21 END AS DECIMAL(38, 2))
          ) AS `total`
        )
      )
    )[0] AS `d:tin_totals`
  FROM _lr_level1
), _lr_level3 AS (
  SELECT
    *,
    `c:alive` AND `c:part_a_and_b` AND `c:not_in_ma` AS `c:eligible`,
    TRANSFORM(
      ARRAY(
        FILTER(
          TRANSFORM(`d:tin_totals`, _x22 -> STRUCT(_x22.`key` AS `v`, _x22.`total` AS `s1`)),
          _x23 -> NOT _x23.`s1` IS NULL
        )
      ),
      _x24 -> TRANSFORM(
        ARRAY(ARRAY_MAX(TRANSFORM(_x24, _x25 -> _x25.`s1`))),
        _x26 -> TRANSFORM(
          ARRAY(TRANSFORM(FILTER(_x24, _x27 -> _x27.`s1` = _x26), _x23 -> _x23.`v`)),
          _x28 -> CASE
            WHEN (
              ARRAY_MIN(_x28) = ARRAY_MAX(_x28)
            )
            AND (
              SIZE(FILTER(_x28, _x29 -> _x29 IS NULL)) = 0
            )
            THEN ARRAY_MIN(_x28)
            ELSE CAST(NULL AS STRING)
          END
        )[0]
      )[0]
    )[0] AS `d:plurality_tin`
  FROM _lr_level2
), _lr_level4 AS (
  SELECT
    *,
    `d:plurality_tin` IN ('111111111', '111111112') AS `c:plurality_here@ACO-A`,
    `d:plurality_tin` IN ('222222222') AS `c:plurality_here@ACO-B`
  FROM _lr_level3
), _lr_requirements AS (
  SELECT
    *,
    COALESCE(`c:eligible` AND `c:designated_here@ACO-A`, FALSE) AS `q:voluntary@ACO-A`,
    COALESCE(`c:eligible` AND `c:designated_here@ACO-B`, FALSE) AS `q:voluntary@ACO-B`,
    COALESCE(`c:eligible` AND `c:plurality_here@ACO-A` AND `c:in_service_area@ACO-A`, FALSE) AS `q:claims@ACO-A`,
    COALESCE(`c:eligible` AND `c:plurality_here@ACO-B` AND `c:in_service_area@ACO-B`, FALSE) AS `q:claims@ACO-B`
  FROM _lr_level4
), _lr_ties AS (
  SELECT
    *,
    CASE WHEN `q:voluntary@ACO-A` THEN 1 ELSE 0 END + CASE WHEN `q:voluntary@ACO-B` THEN 1 ELSE 0 END AS `nq:voluntary`,
    CASE WHEN `q:claims@ACO-A` THEN 1 ELSE 0 END + CASE WHEN `q:claims@ACO-B` THEN 1 ELSE 0 END AS `nq:claims`
  FROM _lr_requirements
), _lr_pathways AS (
  SELECT
    *,
    CASE
      WHEN (
        CASE WHEN `q:voluntary@ACO-A` THEN 1 ELSE 0 END + CASE WHEN `q:voluntary@ACO-B` THEN 1 ELSE 0 END
      ) = 1
      THEN CASE WHEN `q:voluntary@ACO-A` THEN 'ACO-A' WHEN `q:voluntary@ACO-B` THEN 'ACO-B' END
    END AS `w:voluntary`,
    CASE
      WHEN `nq:voluntary` <= 1
      THEN CAST(NULL AS STRUCT<`pathway`: STRING, `criterion`: STRING, `value`: STRING, `acos`: ARRAY<STRING>>)
      ELSE STRUCT(
        'voluntary' AS `pathway`,
        'tie.on_tie' AS `criterion`,
        'tie' AS `value`,
        FLATTEN(
          ARRAY(
            CASE
              WHEN `q:voluntary@ACO-A`
              THEN ARRAY('ACO-A')
              ELSE CAST(ARRAY() AS ARRAY<STRING>)
            END,
            CASE
              WHEN `q:voluntary@ACO-B`
              THEN ARRAY('ACO-B')
              ELSE CAST(ARRAY() AS ARRAY<STRING>)
            END
          )
        ) AS `acos`
      )
    END AS `t:voluntary`,
    CASE
      WHEN (
        CASE WHEN `q:claims@ACO-A` THEN 1 ELSE 0 END + CASE WHEN `q:claims@ACO-B` THEN 1 ELSE 0 END
      ) = 1
      THEN CASE WHEN `q:claims@ACO-A` THEN 'ACO-A' WHEN `q:claims@ACO-B` THEN 'ACO-B' END
    END AS `w:claims`,
    CASE
      WHEN `nq:claims` <= 1
      THEN CAST(NULL AS STRUCT<`pathway`: STRING, `criterion`: STRING, `value`: STRING, `acos`: ARRAY<STRING>>)
      ELSE STRUCT(
        'claims' AS `pathway`,
        'tie.on_tie' AS `criterion`,
        'tie' AS `value`,
        FLATTEN(
          ARRAY(
            CASE
              WHEN `q:claims@ACO-A`
              THEN ARRAY('ACO-A')
              ELSE CAST(ARRAY() AS ARRAY<STRING>)
            END,
            CASE
              WHEN `q:claims@ACO-B`
              THEN ARRAY('ACO-B')
              ELSE CAST(ARRAY() AS ARRAY<STRING>)
            END
          )
        ) AS `acos`
      )
    END AS `t:claims`
  FROM _lr_ties
), _lr_failures AS (
  SELECT
    *,
    CASE WHEN COALESCE(NOT `c:designated_here@ACO-A`, FALSE) THEN 1 ELSE 0 END + CASE WHEN COALESCE(NOT `c:designated_here@ACO-B`, FALSE) THEN 1 ELSE 0 END AS `n:voluntary:1:false`,
    CASE WHEN `c:designated_here@ACO-A` IS NULL THEN 1 ELSE 0 END + CASE WHEN `c:designated_here@ACO-B` IS NULL THEN 1 ELSE 0 END AS `n:voluntary:1:unknown`,
    CASE WHEN COALESCE(NOT `c:plurality_here@ACO-A`, FALSE) THEN 1 ELSE 0 END + CASE WHEN COALESCE(NOT `c:plurality_here@ACO-B`, FALSE) THEN 1 ELSE 0 END AS `n:claims:1:false`,
    CASE WHEN `c:plurality_here@ACO-A` IS NULL THEN 1 ELSE 0 END + CASE WHEN `c:plurality_here@ACO-B` IS NULL THEN 1 ELSE 0 END AS `n:claims:1:unknown`,
    CASE WHEN COALESCE(NOT `c:in_service_area@ACO-A`, FALSE) THEN 1 ELSE 0 END + CASE WHEN COALESCE(NOT `c:in_service_area@ACO-B`, FALSE) THEN 1 ELSE 0 END AS `n:claims:2:false`,
    CASE WHEN `c:in_service_area@ACO-A` IS NULL THEN 1 ELSE 0 END + CASE WHEN `c:in_service_area@ACO-B` IS NULL THEN 1 ELSE 0 END AS `n:claims:2:unknown`
  FROM _lr_pathways
), _lr_reasons AS (
  SELECT
    *,
    CASE
      WHEN COALESCE(NOT `c:eligible`, FALSE)
      THEN STRUCT(
        'voluntary' AS `pathway`,
        'eligible' AS `criterion`,
        'false' AS `value`,
        CAST(NULL AS ARRAY<STRING>) AS `acos`
      )
    END AS `r:voluntary:0:false`,
    CASE
      WHEN `c:eligible` IS NULL
      THEN STRUCT(
        'voluntary' AS `pathway`,
        'eligible' AS `criterion`,
        'unknown' AS `value`,
        CAST(NULL AS ARRAY<STRING>) AS `acos`
      )
    END AS `r:voluntary:0:unknown`,
    CASE
      WHEN `n:voluntary:1:false` > 0
      THEN STRUCT(
        'voluntary' AS `pathway`,
        'designated_here' AS `criterion`,
        'false' AS `value`,
        CASE
          WHEN `n:voluntary:1:false` = 2
          THEN CAST(NULL AS ARRAY<STRING>)
          ELSE FLATTEN(
            ARRAY(
              CASE
                WHEN COALESCE(NOT `c:designated_here@ACO-A`, FALSE)
                THEN ARRAY('ACO-A')
                ELSE CAST(ARRAY() AS ARRAY<STRING>)
              END,
              CASE
                WHEN COALESCE(NOT `c:designated_here@ACO-B`, FALSE)
                THEN ARRAY('ACO-B')
                ELSE CAST(ARRAY() AS ARRAY<STRING>)
              END
            )
          )
        END AS `acos`
      )
    END AS `r:voluntary:1:false`,
    CASE
      WHEN `n:voluntary:1:unknown` > 0
      THEN STRUCT(
        'voluntary' AS `pathway`,
        'designated_here' AS `criterion`,
        'unknown' AS `value`,
        CASE
          WHEN `n:voluntary:1:unknown` = 2
          THEN CAST(NULL AS ARRAY<STRING>)
          ELSE FLATTEN(
            ARRAY(
              CASE
                WHEN `c:designated_here@ACO-A` IS NULL
                THEN ARRAY('ACO-A')
                ELSE CAST(ARRAY() AS ARRAY<STRING>)
              END,
              CASE
                WHEN `c:designated_here@ACO-B` IS NULL
                THEN ARRAY('ACO-B')
                ELSE CAST(ARRAY() AS ARRAY<STRING>)
              END
            )
          )
        END AS `acos`
      )
    END AS `r:voluntary:1:unknown`,
    CASE
      WHEN COALESCE(NOT `c:eligible`, FALSE)
      THEN STRUCT(
        'claims' AS `pathway`,
        'eligible' AS `criterion`,
        'false' AS `value`,
        CAST(NULL AS ARRAY<STRING>) AS `acos`
      )
    END AS `r:claims:0:false`,
    CASE
      WHEN `c:eligible` IS NULL
      THEN STRUCT(
        'claims' AS `pathway`,
        'eligible' AS `criterion`,
        'unknown' AS `value`,
        CAST(NULL AS ARRAY<STRING>) AS `acos`
      )
    END AS `r:claims:0:unknown`,
    CASE
      WHEN `n:claims:1:false` > 0
      THEN STRUCT(
        'claims' AS `pathway`,
        'plurality_here' AS `criterion`,
        'false' AS `value`,
        CASE
          WHEN `n:claims:1:false` = 2
          THEN CAST(NULL AS ARRAY<STRING>)
          ELSE FLATTEN(
            ARRAY(
              CASE
                WHEN COALESCE(NOT `c:plurality_here@ACO-A`, FALSE)
                THEN ARRAY('ACO-A')
                ELSE CAST(ARRAY() AS ARRAY<STRING>)
              END,
              CASE
                WHEN COALESCE(NOT `c:plurality_here@ACO-B`, FALSE)
                THEN ARRAY('ACO-B')
                ELSE CAST(ARRAY() AS ARRAY<STRING>)
              END
            )
          )
        END AS `acos`
      )
    END AS `r:claims:1:false`,
    CASE
      WHEN `n:claims:1:unknown` > 0
      THEN STRUCT(
        'claims' AS `pathway`,
        'plurality_here' AS `criterion`,
        'unknown' AS `value`,
        CASE
          WHEN `n:claims:1:unknown` = 2
          THEN CAST(NULL AS ARRAY<STRING>)
          ELSE FLATTEN(
            ARRAY(
              CASE
                WHEN `c:plurality_here@ACO-A` IS NULL
                THEN ARRAY('ACO-A')
                ELSE CAST(ARRAY() AS ARRAY<STRING>)
              END,
              CASE
                WHEN `c:plurality_here@ACO-B` IS NULL
                THEN ARRAY('ACO-B')
                ELSE CAST(ARRAY() AS ARRAY<STRING>)
              END
            )
          )
        END AS `acos`
      )
    END AS `r:claims:1:unknown`,
    CASE
      WHEN `n:claims:2:false` > 0
      THEN STRUCT(
        'claims' AS `pathway`,
        'in_service_area' AS `criterion`,
        'false' AS `value`,
        CASE
          WHEN `n:claims:2:false` = 2
          THEN CAST(NULL AS ARRAY<STRING>)
          ELSE FLATTEN(
            ARRAY(
              CASE
                WHEN COALESCE(NOT `c:in_service_area@ACO-A`, FALSE)
                THEN ARRAY('ACO-A')
                ELSE CAST(ARRAY() AS ARRAY<STRING>)
              END,
              CASE
                WHEN COALESCE(NOT `c:in_service_area@ACO-B`, FALSE)
                THEN ARRAY('ACO-B')
                ELSE CAST(ARRAY() AS ARRAY<STRING>)
              END
            )
          )
        END AS `acos`
      )
    END AS `r:claims:2:false`,
    CASE
      WHEN `n:claims:2:unknown` > 0
      THEN STRUCT(
        'claims' AS `pathway`,
        'in_service_area' AS `criterion`,
        'unknown' AS `value`,
        CASE
          WHEN `n:claims:2:unknown` = 2
          THEN CAST(NULL AS ARRAY<STRING>)
          ELSE FLATTEN(
            ARRAY(
              CASE
                WHEN `c:in_service_area@ACO-A` IS NULL
                THEN ARRAY('ACO-A')
                ELSE CAST(ARRAY() AS ARRAY<STRING>)
              END,
              CASE
                WHEN `c:in_service_area@ACO-B` IS NULL
                THEN ARRAY('ACO-B')
                ELSE CAST(ARRAY() AS ARRAY<STRING>)
              END
            )
          )
        END AS `acos`
      )
    END AS `r:claims:2:unknown`
  FROM _lr_failures
)
SELECT
  `bene_id`,
  CASE
    WHEN NOT `w:voluntary` IS NULL
    THEN 'aligned'
    WHEN NOT `w:claims` IS NULL
    THEN 'aligned'
    ELSE 'not_aligned'
  END AS `outcome`,
  CASE
    WHEN CASE
      WHEN NOT `w:voluntary` IS NULL
      THEN 'aligned'
      WHEN NOT `w:claims` IS NULL
      THEN 'aligned'
      ELSE 'not_aligned'
    END = 'aligned'
    THEN COALESCE(`w:voluntary`, `w:claims`)
  END AS `aco_id`,
  CASE
    WHEN NOT `w:voluntary` IS NULL
    THEN 'voluntary'
    WHEN NOT `w:claims` IS NULL
    THEN 'claims'
  END AS `pathway`,
  CASE
    WHEN NOT `w:voluntary` IS NULL
    THEN FILTER(
      ARRAY(
        STRUCT(
          'voluntary' AS `pathway`,
          'eligible' AS `criterion`,
          'true' AS `value`,
          ARRAY(`w:voluntary`) AS `acos`
        ),
        STRUCT(
          'voluntary' AS `pathway`,
          'designated_here' AS `criterion`,
          'true' AS `value`,
          ARRAY(`w:voluntary`) AS `acos`
        ),
        `t:voluntary`
      ),
      _x30 -> NOT _x30 IS NULL
    )
    WHEN NOT `w:claims` IS NULL
    THEN FILTER(
      ARRAY(
        STRUCT(
          'claims' AS `pathway`,
          'eligible' AS `criterion`,
          'true' AS `value`,
          ARRAY(`w:claims`) AS `acos`
        ),
        STRUCT(
          'claims' AS `pathway`,
          'plurality_here' AS `criterion`,
          'true' AS `value`,
          ARRAY(`w:claims`) AS `acos`
        ),
        STRUCT(
          'claims' AS `pathway`,
          'in_service_area' AS `criterion`,
          'true' AS `value`,
          ARRAY(`w:claims`) AS `acos`
        ),
        `t:claims`
      ),
      _x31 -> NOT _x31 IS NULL
    )
    ELSE FILTER(
      ARRAY(
        `r:voluntary:0:false`,
        `r:voluntary:0:unknown`,
        `r:voluntary:1:false`,
        `r:voluntary:1:unknown`,
        `t:voluntary`,
        `r:claims:0:false`,
        `r:claims:0:unknown`,
        `r:claims:1:false`,
        `r:claims:1:unknown`,
        `r:claims:2:false`,
        `r:claims:2:unknown`,
        `t:claims`
      ),
      _x32 -> NOT _x32 IS NULL
    )
  END AS `reasons`,
  CAST(NULL AS STRING) AS `cause`,
  `c:alive` AS `c:alive`,
  `c:part_a_and_b` AS `c:part_a_and_b`,
  `c:not_in_ma` AS `c:not_in_ma`,
  `c:eligible` AS `c:eligible`,
  `c:designated_here@ACO-A` AS `c:designated_here@ACO-A`,
  `c:designated_here@ACO-B` AS `c:designated_here@ACO-B`,
  `c:plurality_here@ACO-A` AS `c:plurality_here@ACO-A`,
  `c:plurality_here@ACO-B` AS `c:plurality_here@ACO-B`,
  `c:in_service_area@ACO-A` AS `c:in_service_area@ACO-A`,
  `c:in_service_area@ACO-B` AS `c:in_service_area@ACO-B`
FROM _lr_reasons
