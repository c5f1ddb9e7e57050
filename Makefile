# pg_sequenced: PGXS build.  `make && make install`, then `make installcheck`
# against a running server (scripts/test.sh starts a throwaway one).

EXTENSION  = pg_sequenced pg_sequenced_proxy
MODULE_big = pg_sequenced
OBJS       = $(patsubst %.c,%.o,$(wildcard src/*.c))
DATA       = $(wildcard sql/pg_sequenced--*.sql) $(wildcard sql/pg_sequenced_proxy--*.sql)
PGFILEDESC = "pg_sequenced - record sequencing for PostgreSQL"

REGRESS      = $(patsubst test/sql/%.sql,%,$(sort $(wildcard test/sql/*.sql)))
REGRESS_OPTS = --inputdir=test --load-extension=pg_sequenced
ISOLATION      = $(patsubst test/specs/%.spec,%,$(sort $(wildcard test/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test --outputdir=. --load-extension=pg_sequenced
TAP_TESTS   = 1
PROVE_TESTS = $(sort $(wildcard test/t/*.pl))

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

override CFLAGS += -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare

# PGXS tracks no header dependencies (Debian's build has no autodepend):
# every object includes the shared header.
$(OBJS): src/pg_sequenced.h src/import.h
