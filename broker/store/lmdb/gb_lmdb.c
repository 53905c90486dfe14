/* The LMDB backend's operations table (gb_store_backend.h): what
 * gb_store_open_with finds under the name "lmdb". Each operation lives in
 * the module of the database it serves; this file only names them. */
#include "gb_lmdb_audit.h"
#include "gb_lmdb_cursor.h"
#include "gb_lmdb_env.h"
#include "gb_lmdb_epoch.h"
#include "gb_lmdb_group.h"
#include "gb_lmdb_log.h"
#include "gb_lmdb_pseq.h"
#include "gb_lmdb_request.h"

const struct gb_store_ops gb_lmdb_ops = {
	.name = "lmdb",
	.open = gb_lmdb_open,
	.close = gb_lmdb_close,
	.write_group = gb_lmdb_write_group,
	.stats = gb_lmdb_stats,
	.stream_info = gb_lmdb_stream_info,
	.last_seq = gb_lmdb_last_seq,
	.offset_for_time = gb_lmdb_offset_for_time,
	.read = gb_lmdb_read,
	.cursor_get = gb_lmdb_cursor_get,
	.epoch_get = gb_lmdb_epoch_get,
	.wrap_get = gb_lmdb_wrap_get,
	.wrap_holders = gb_lmdb_wrap_holders,
	.verify_stream = gb_lmdb_verify_stream,
	.read_raw = gb_lmdb_read_raw,
	.checkpoints_read = gb_lmdb_checkpoints_read,
	.policies_read = gb_lmdb_policies_read,
	.requests_read = gb_lmdb_requests_read,
	.request_next_id = gb_lmdb_request_next_id,
};
