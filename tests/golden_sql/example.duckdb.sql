WITH _lr_level1 AS (
  SELECT
    *,
    (
      "death_date" IS NULL
    ) OR (
      "death_date" >= CAST('2028-01-01' AS DATE)
    ) AS "c:alive",
    CASE
      WHEN "residence"."county_fips" IS NULL
      THEN CAST(NULL AS BOOLEAN)
      ELSE ARRAY_CONTAINS(['37063', '37135'], "residence"."county_fips")
    END AS "c:in_service_area@ACO-A",
    CASE
      WHEN "residence"."county_fips" IS NULL
      THEN CAST(NULL AS BOOLEAN)
      ELSE ARRAY_CONTAINS(['37063', '37183'], "residence"."county_fips")
    END AS "c:in_service_area@ACO-B",
    LIST_TRANSFORM(
      [
        LIST_FILTER(
          LIST_TRANSFORM(
            LIST_FILTER("voluntary", LAMBDA _x6 : NOT _x6."date" IS NULL),
            LAMBDA _x6 : {'v': _x6."tin", 's1': _x6."date"}
          ),
          LAMBDA _x7 : NOT _x7."s1" IS NULL
        )
      ],
      LAMBDA _x8 : LIST_TRANSFORM(
        [LIST_MAX(LIST_TRANSFORM(_x8, LAMBDA _x9 : _x9."s1"))],
        LAMBDA _x10 : LIST_TRANSFORM(
          [
            LIST_TRANSFORM(LIST_FILTER(_x8, LAMBDA _x11 : _x11."s1" = _x10), LAMBDA _x7 : _x7."v")
          ],
          LAMBDA _x12 : CASE
            WHEN (
              LIST_MIN(_x12) = LIST_MAX(_x12)
            )
            AND (
              ARRAY_LENGTH(LIST_FILTER(_x12, LAMBDA _x13 : _x13 IS NULL)) = 0
            )
            THEN LIST_MIN(_x12)
            ELSE CAST(NULL AS TEXT)
          END
        )[1]
      )[1]
    )[1] AS "d:latest_designation_tin",
    LIST_FILTER(
      "claims",
      LAMBDA _x14 : CASE
        WHEN _x14."hcpcs" IS NULL
        THEN CAST(NULL AS BOOLEAN)
        ELSE ARRAY_CONTAINS(
          [
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
          ],
          _x14."hcpcs"
        )
      END
      AND (
        YEAR(_x14."from_date") = 2027
      )
    ) AS "d:pc_claims",
    LIST_FILTER("months", LAMBDA _x1 : SUBSTRING(_x1."month", 1, 4) = '2027') AS "d:window_months"
  FROM population
), _lr_level2 AS (
  SELECT
    *,
    CASE
      WHEN "d:latest_designation_tin" IS NULL
      THEN CAST(NULL AS BOOLEAN)
      ELSE ARRAY_CONTAINS(['111111111', '111111112'], "d:latest_designation_tin")
    END AS "c:designated_here@ACO-A",
    CASE
      WHEN "d:latest_designation_tin" IS NULL
      THEN CAST(NULL AS BOOLEAN)
      ELSE ARRAY_CONTAINS(['222222222'], "d:latest_designation_tin")
    END AS "c:designated_here@ACO-B",
    CASE LIST_MIN(
        LIST_TRANSFORM(
          "d:window_months",
          LAMBDA _x5 : CASE CASE
              WHEN _x5."hmo" IS NULL
              THEN CAST(NULL AS BOOLEAN)
              ELSE ARRAY_CONTAINS(['0', '4'], _x5."hmo")
            END
            WHEN TRUE
            THEN 2
            WHEN FALSE
            THEN 0
            ELSE 1
          END
        )
      )
      WHEN 0
      THEN FALSE
      WHEN 1
      THEN CAST(NULL AS BOOLEAN)
      ELSE TRUE
    END AS "c:not_in_ma",
    (
      ARRAY_LENGTH("d:window_months") > 0
    )
    AND CASE LIST_MIN(
        LIST_TRANSFORM(
          "d:window_months",
          LAMBDA _x3 : CASE CASE
              WHEN _x3."buyin" IS NULL
              THEN CAST(NULL AS BOOLEAN)
              ELSE ARRAY_CONTAINS(['3', 'C'], _x3."buyin")
            END
            WHEN TRUE
            THEN 2
            WHEN FALSE
            THEN 0
            ELSE 1
          END
        )
      )
      WHEN 0
      THEN FALSE
      WHEN 1
      THEN CAST(NULL AS BOOLEAN)
      ELSE TRUE
    END AS "c:part_a_and_b",
    LIST_TRANSFORM(
      [
        LIST_TRANSFORM("d:pc_claims", LAMBDA _x15 : {'k': _x15."tin", 'v': _x15."allowed"})
      ],
      LAMBDA _x16 : LIST_TRANSFORM(
        LIST_SORT(LIST_DISTINCT(LIST_TRANSFORM(_x16, LAMBDA _x17 : _x17."k"))),
        LAMBDA _x19 : {'key': _x19, 'total': LIST_SUM(LIST_TRANSFORM(_x16, LAMBDA _x18 : CASE WHEN _x18."k" = _x19 THEN _x18."v" END))}
      )
    )[1] AS "d:tin_totals"
  FROM _lr_level1
), _lr_level3 AS (
  SELECT
    *,
    "c:alive" AND "c:part_a_and_b" AND "c:not_in_ma" AS "c:eligible",
    LIST_TRANSFORM(
      [
        LIST_FILTER(
          LIST_TRANSFORM("d:tin_totals", LAMBDA _x20 : {'v': _x20."key", 's1': _x20."total"}),
          LAMBDA _x21 : NOT _x21."s1" IS NULL
        )
      ],
      LAMBDA _x22 : LIST_TRANSFORM(
        [LIST_MAX(LIST_TRANSFORM(_x22, LAMBDA _x23 : _x23."s1"))],
        LAMBDA _x24 : LIST_TRANSFORM(
          [
            LIST_TRANSFORM(LIST_FILTER(_x22, LAMBDA _x25 : _x25."s1" = _x24), LAMBDA _x21 : _x21."v")
          ],
          LAMBDA _x26 : CASE
            WHEN (
              LIST_MIN(_x26) = LIST_MAX(_x26)
            )
            AND (
              ARRAY_LENGTH(LIST_FILTER(_x26, LAMBDA _x27 : _x27 IS NULL)) = 0
            )
            THEN LIST_MIN(_x26)
            ELSE CAST(NULL AS TEXT)
          END
        )[1]
      )[1]
    )[1] AS "d:plurality_tin"
  FROM _lr_level2
), _lr_level4 AS (
  SELECT
    *,
    CASE
      WHEN "d:plurality_tin" IS NULL
      THEN CAST(NULL AS BOOLEAN)
      ELSE ARRAY_CONTAINS(['111111111', '111111112'], "d:plurality_tin")
    END AS "c:plurality_here@ACO-A",
    CASE
      WHEN "d:plurality_tin" IS NULL
      THEN CAST(NULL AS BOOLEAN)
      ELSE ARRAY_CONTAINS(['222222222'], "d:plurality_tin")
    END AS "c:plurality_here@ACO-B"
  FROM _lr_level3
), _lr_requirements AS (
  SELECT
    *,
    COALESCE("c:eligible" AND "c:designated_here@ACO-A", FALSE) AS "q:voluntary@ACO-A",
    COALESCE("c:eligible" AND "c:designated_here@ACO-B", FALSE) AS "q:voluntary@ACO-B",
    COALESCE("c:eligible" AND "c:plurality_here@ACO-A" AND "c:in_service_area@ACO-A", FALSE) AS "q:claims@ACO-A",
    COALESCE("c:eligible" AND "c:plurality_here@ACO-B" AND "c:in_service_area@ACO-B", FALSE) AS "q:claims@ACO-B"
  FROM _lr_level4
), _lr_ties AS (
  SELECT
    *,
    CASE WHEN "q:voluntary@ACO-A" THEN 1 ELSE 0 END + CASE WHEN "q:voluntary@ACO-B" THEN 1 ELSE 0 END AS "nq:voluntary",
    CASE WHEN "q:claims@ACO-A" THEN 1 ELSE 0 END + CASE WHEN "q:claims@ACO-B" THEN 1 ELSE 0 END AS "nq:claims"
  FROM _lr_requirements
), _lr_pathways AS (
  SELECT
    *,
    CASE
      WHEN (
        CASE WHEN "q:voluntary@ACO-A" THEN 1 ELSE 0 END + CASE WHEN "q:voluntary@ACO-B" THEN 1 ELSE 0 END
      ) = 1
      THEN CASE WHEN "q:voluntary@ACO-A" THEN 'ACO-A' WHEN "q:voluntary@ACO-B" THEN 'ACO-B' END
    END AS "w:voluntary",
    CASE
      WHEN "nq:voluntary" <= 1
      THEN CAST(NULL AS STRUCT("pathway" TEXT, "criterion" TEXT, "value" TEXT, "acos" TEXT[]))
      ELSE {'pathway': 'voluntary', 'criterion': 'tie.on_tie', 'value': 'tie', 'acos': LIST_WHERE(['ACO-A', 'ACO-B'], ["q:voluntary@ACO-A", "q:voluntary@ACO-B"])}
    END AS "t:voluntary",
    CASE
      WHEN (
        CASE WHEN "q:claims@ACO-A" THEN 1 ELSE 0 END + CASE WHEN "q:claims@ACO-B" THEN 1 ELSE 0 END
      ) = 1
      THEN CASE WHEN "q:claims@ACO-A" THEN 'ACO-A' WHEN "q:claims@ACO-B" THEN 'ACO-B' END
    END AS "w:claims",
    CASE
      WHEN "nq:claims" <= 1
      THEN CAST(NULL AS STRUCT("pathway" TEXT, "criterion" TEXT, "value" TEXT, "acos" TEXT[]))
      ELSE {'pathway': 'claims', 'criterion': 'tie.on_tie', 'value': 'tie', 'acos': LIST_WHERE(['ACO-A', 'ACO-B'], ["q:claims@ACO-A", "q:claims@ACO-B"])}
    END AS "t:claims"
  FROM _lr_ties
), _lr_failures AS (
  SELECT
    *,
    CASE WHEN COALESCE(NOT "c:designated_here@ACO-A", FALSE) THEN 1 ELSE 0 END + CASE WHEN COALESCE(NOT "c:designated_here@ACO-B", FALSE) THEN 1 ELSE 0 END AS "n:voluntary:1:false",
    CASE WHEN "c:designated_here@ACO-A" IS NULL THEN 1 ELSE 0 END + CASE WHEN "c:designated_here@ACO-B" IS NULL THEN 1 ELSE 0 END AS "n:voluntary:1:unknown",
    CASE WHEN COALESCE(NOT "c:plurality_here@ACO-A", FALSE) THEN 1 ELSE 0 END + CASE WHEN COALESCE(NOT "c:plurality_here@ACO-B", FALSE) THEN 1 ELSE 0 END AS "n:claims:1:false",
    CASE WHEN "c:plurality_here@ACO-A" IS NULL THEN 1 ELSE 0 END + CASE WHEN "c:plurality_here@ACO-B" IS NULL THEN 1 ELSE 0 END AS "n:claims:1:unknown",
    CASE WHEN COALESCE(NOT "c:in_service_area@ACO-A", FALSE) THEN 1 ELSE 0 END + CASE WHEN COALESCE(NOT "c:in_service_area@ACO-B", FALSE) THEN 1 ELSE 0 END AS "n:claims:2:false",
    CASE WHEN "c:in_service_area@ACO-A" IS NULL THEN 1 ELSE 0 END + CASE WHEN "c:in_service_area@ACO-B" IS NULL THEN 1 ELSE 0 END AS "n:claims:2:unknown"
  FROM _lr_pathways
), _lr_reasons AS (
  SELECT
    *,
    CASE
      WHEN COALESCE(NOT "c:eligible", FALSE)
      THEN {'pathway': 'voluntary', 'criterion': 'eligible', 'value': 'false', 'acos': CAST(NULL AS TEXT[])}
    END AS "r:voluntary:0:false",
    CASE
      WHEN "c:eligible" IS NULL
      THEN {'pathway': 'voluntary', 'criterion': 'eligible', 'value': 'unknown', 'acos': CAST(NULL AS TEXT[])}
    END AS "r:voluntary:0:unknown",
    CASE
      WHEN "n:voluntary:1:false" > 0
      THEN {'pathway': 'voluntary', 'criterion': 'designated_here', 'value': 'false', 'acos': CASE
        WHEN "n:voluntary:1:false" = 2
        THEN CAST(NULL AS TEXT[])
        ELSE LIST_WHERE(
          ['ACO-A', 'ACO-B'],
          [
            COALESCE(NOT "c:designated_here@ACO-A", FALSE),
            COALESCE(NOT "c:designated_here@ACO-B", FALSE)
          ]
        )
      END}
    END AS "r:voluntary:1:false",
    CASE
      WHEN "n:voluntary:1:unknown" > 0
      THEN {'pathway': 'voluntary', 'criterion': 'designated_here', 'value': 'unknown', 'acos': CASE
        WHEN "n:voluntary:1:unknown" = 2
        THEN CAST(NULL AS TEXT[])
        ELSE LIST_WHERE(
          ['ACO-A', 'ACO-B'],
          ["c:designated_here@ACO-A" IS NULL, "c:designated_here@ACO-B" IS NULL]
        )
      END}
    END AS "r:voluntary:1:unknown",
    CASE
      WHEN COALESCE(NOT "c:eligible", FALSE)
      THEN {'pathway': 'claims', 'criterion': 'eligible', 'value': 'false', 'acos': CAST(NULL AS TEXT[])}
    END AS "r:claims:0:false",
    CASE
      WHEN "c:eligible" IS NULL
      THEN {'pathway': 'claims', 'criterion': 'eligible', 'value': 'unknown', 'acos': CAST(NULL AS TEXT[])}
    END AS "r:claims:0:unknown",
    CASE
      WHEN "n:claims:1:false" > 0
      THEN {'pathway': 'claims', 'criterion': 'plurality_here', 'value': 'false', 'acos': CASE
        WHEN "n:claims:1:false" = 2
        THEN CAST(NULL AS TEXT[])
        ELSE LIST_WHERE(
          ['ACO-A', 'ACO-B'],
          [
            COALESCE(NOT "c:plurality_here@ACO-A", FALSE),
            COALESCE(NOT "c:plurality_here@ACO-B", FALSE)
          ]
        )
      END}
    END AS "r:claims:1:false",
    CASE
      WHEN "n:claims:1:unknown" > 0
      THEN {'pathway': 'claims', 'criterion': 'plurality_here', 'value': 'unknown', 'acos': CASE
        WHEN "n:claims:1:unknown" = 2
        THEN CAST(NULL AS TEXT[])
        ELSE LIST_WHERE(
          ['ACO-A', 'ACO-B'],
          ["c:plurality_here@ACO-A" IS NULL, "c:plurality_here@ACO-B" IS NULL]
        )
      END}
    END AS "r:claims:1:unknown",
    CASE
      WHEN "n:claims:2:false" > 0
      THEN {'pathway': 'claims', 'criterion': 'in_service_area', 'value': 'false', 'acos': CASE
        WHEN "n:claims:2:false" = 2
        THEN CAST(NULL AS TEXT[])
        ELSE LIST_WHERE(
          ['ACO-A', 'ACO-B'],
          [
            COALESCE(NOT "c:in_service_area@ACO-A", FALSE),
            COALESCE(NOT "c:in_service_area@ACO-B", FALSE)
          ]
        )
      END}
    END AS "r:claims:2:false",
    CASE
      WHEN "n:claims:2:unknown" > 0
      THEN {'pathway': 'claims', 'criterion': 'in_service_area', 'value': 'unknown', 'acos': CASE
        WHEN "n:claims:2:unknown" = 2
        THEN CAST(NULL AS TEXT[])
        ELSE LIST_WHERE(
          ['ACO-A', 'ACO-B'],
          ["c:in_service_area@ACO-A" IS NULL, "c:in_service_area@ACO-B" IS NULL]
        )
      END}
    END AS "r:claims:2:unknown"
  FROM _lr_failures
)
SELECT
  "bene_id",
  CASE
    WHEN NOT "w:voluntary" IS NULL
    THEN 'aligned'
    WHEN NOT "w:claims" IS NULL
    THEN 'aligned'
    ELSE 'not_aligned'
  END AS "outcome",
  CASE
    WHEN CASE
      WHEN NOT "w:voluntary" IS NULL
      THEN 'aligned'
      WHEN NOT "w:claims" IS NULL
      THEN 'aligned'
      ELSE 'not_aligned'
    END = 'aligned'
    THEN COALESCE("w:voluntary", "w:claims")
  END AS "aco_id",
  CASE
    WHEN NOT "w:voluntary" IS NULL
    THEN 'voluntary'
    WHEN NOT "w:claims" IS NULL
    THEN 'claims'
  END AS "pathway",
  CASE
    WHEN NOT "w:voluntary" IS NULL
    THEN LIST_FILTER(
      [
        {'pathway': 'voluntary', 'criterion': 'eligible', 'value': 'true', 'acos': ["w:voluntary"]},
        {'pathway': 'voluntary', 'criterion': 'designated_here', 'value': 'true', 'acos': ["w:voluntary"]},
        "t:voluntary"
      ],
      LAMBDA _x28 : NOT _x28 IS NULL
    )
    WHEN NOT "w:claims" IS NULL
    THEN LIST_FILTER(
      [
        {'pathway': 'claims', 'criterion': 'eligible', 'value': 'true', 'acos': ["w:claims"]},
        {'pathway': 'claims', 'criterion': 'plurality_here', 'value': 'true', 'acos': ["w:claims"]},
        {'pathway': 'claims', 'criterion': 'in_service_area', 'value': 'true', 'acos': ["w:claims"]},
        "t:claims"
      ],
      LAMBDA _x29 : NOT _x29 IS NULL
    )
    ELSE LIST_FILTER(
      [
        "r:voluntary:0:false",
        "r:voluntary:0:unknown",
        "r:voluntary:1:false",
        "r:voluntary:1:unknown",
        "t:voluntary",
        "r:claims:0:false",
        "r:claims:0:unknown",
        "r:claims:1:false",
        "r:claims:1:unknown",
        "r:claims:2:false",
        "r:claims:2:unknown",
        "t:claims"
      ],
      LAMBDA _x30 : NOT _x30 IS NULL
    )
  END AS "reasons",
  CAST(NULL AS TEXT) AS "cause",
  "c:alive" AS "c:alive",
  "c:part_a_and_b" AS "c:part_a_and_b",
  "c:not_in_ma" AS "c:not_in_ma",
  "c:eligible" AS "c:eligible",
  "c:designated_here@ACO-A" AS "c:designated_here@ACO-A",
  "c:designated_here@ACO-B" AS "c:designated_here@ACO-B",
  "c:plurality_here@ACO-A" AS "c:plurality_here@ACO-A",
  "c:plurality_here@ACO-B" AS "c:plurality_here@ACO-B",
  "c:in_service_area@ACO-A" AS "c:in_service_area@ACO-A",
  "c:in_service_area@ACO-B" AS "c:in_service_area@ACO-B"
FROM _lr_reasons
