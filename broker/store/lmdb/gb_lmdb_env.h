/* The LMDB backend's environment, internal to broker/store/lmdb: the
 * handle every lmdb file works on (struct gb_lmdb, whose first member is
 * the common struct gb_store), opening and closing it (read-write and
 * read-only), the format record, read transactions and the resize lock
 * that lets the writer grow the map, and how LMDB errors become GB_E...
 * codes. Layout of every named database: gb_store.h. */
#ifndef GB_LMDB_ENV_H
#define GB_LMDB_ENV_H

#include <lmdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "gb_lmdb_cache.h"
#include "gb_store_backend.h"
#include "gb_store_dedupe.h"

typedef struct gb_lmdb {
	gb_store base;                  /* first: a gb_store * is a gb_lmdb * */
	MDB_env *env;
	MDB_dbi streams_db;
	MDB_dbi log_db;
	MDB_dbi pseq_db;
	MDB_dbi cursors_db;
	MDB_dbi meta_db;
	MDB_dbi epochs_db;
	MDB_dbi epoch_log_db;
	MDB_dbi wraps_db;
	MDB_dbi checkpoints_db;
	MDB_dbi policies_db;
	bool audit_dbs;                 /* false: a read-only open found none */
	MDB_dbi requests_db;
	bool requests_dbs;              /* false: a read-only open found none */
	MDB_dbi dedupe_db;              /* record id tags (dedupe) */
	MDB_dbi dedupe_age_db;          /* the same entries by broker time */
	size_t max_key;                 /* LMDB's key size limit */
	/* Readers hold it shared for the life of their read transaction; the
	 * writer holds it exclusively to grow the map, which LMDB allows only
	 * while no transaction of this process is open. */
	pthread_rwlock_t resize_lock;
	bool resize_lock_ready;
	uint64_t map_size;              /* writer thread: the map's size now */
	/* Writer thread only. */
	gb_store_dedupe dedupe;         /* scratch of the dedupe checks */
	uint32_t next_stream_id;        /* 0 once every id is used */
	gb_lmdb_cache cache;
} gb_lmdb;

/* One write transaction: a group commit, or a unit nested in it. */
typedef struct gb_lmdb_write {
	gb_lmdb *s;
	MDB_txn *txn;
	MDB_cursor *pseq_cursor;        /* of the group's own transaction */
} gb_lmdb_write;

static inline gb_lmdb *gb_lmdb_of(gb_store *s)
{
	return (gb_lmdb *)s;
}

static inline const gb_lmdb *gb_lmdb_of_const(const gb_store *s)
{
	return (const gb_lmdb *)s;
}

/* Inside a write group only: the map is full. The group grows the map
 * and runs again; callers never see this code. */
#define GB_LMDB_MAP_FULL (-1000)

/* Map an LMDB or errno code to a GB_E... code. */
int gb_lmdb_error(int rc);

/* A failed LMDB call in a write transaction: "storage full" or "I/O
 * error" (the two outcomes gb_store_write_group documents), or a full
 * map (GB_LMDB_MAP_FULL). */
int gb_lmdb_write_error(int rc);

/* A failed LMDB read inside the group (`rc` already a GB_E... code) ends
 * it as "storage full" or "I/O error". */
int gb_lmdb_group_failure(int rc);

/* Why a commit of `items` failed: LMDB reports a full filesystem as EIO,
 * so ask the filesystem before calling it an I/O error. */
int gb_lmdb_commit_error(MDB_env *env, int rc, const gb_write *items,
			 size_t n);

/* Open the environment gb_store_options describes (lmdb.dir, map_size,
 * readonly). */
int gb_lmdb_open(const gb_store_options *opt, gb_store **out);
void gb_lmdb_close(gb_store *s);

/* Double the map (up to 16 TiB), waiting for this process's readers.
 * GB_ENOSPC when it cannot grow. Writer thread. */
int gb_lmdb_map_grow(gb_lmdb *s);

void gb_lmdb_stats(const gb_store *s, gb_store_stats *out);

/* A new stream takes s->next_stream_id: move the counter on, in memory and
 * in the meta db (0 after UINT32_MAX: every id is used). */
int gb_lmdb_stream_id_take(gb_lmdb_write *g);

/* Begin a read transaction under the shared resize lock, adopting a map
 * another process grew; end it with gb_lmdb_read_end. */
int gb_lmdb_read_begin(gb_lmdb *s, MDB_txn **txn);
void gb_lmdb_read_end(gb_lmdb *s, MDB_txn *txn);

/* Visit, in one read transaction, the entries of `dbi` from key `start`
 * (NULL: from the first) while their key begins with the first `plen`
 * bytes of `start`. fn returns 0 to go on; anything else stops the walk
 * and is returned. Returns 0 when the walk ran to the end. The one cursor
 * loop behind every table reader. */
typedef int (*gb_lmdb_scan_fn)(void *ctx, const MDB_val *k, const MDB_val *v);
int gb_lmdb_scan(gb_lmdb *s, MDB_dbi dbi, const uint8_t *start,
		 size_t start_len, size_t plen, gb_lmdb_scan_fn fn, void *ctx);

#endif
