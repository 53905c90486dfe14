/* govbus access policy: whether a department may act on a dataset.
 *
 * Trust: the registry snapshot is trusted (the loader validated it); the
 * department and dataset names come from the network (the department is the
 * one ZAP authenticated, the dataset is whatever the peer asked for) and
 * are only ever looked up, never assumed to exist. Time is the caller's
 * now_ns. Deny by default: each rule below either allows with its reason or
 * falls through, and whatever reaches the end is refused. The rules are
 * read as a union — a department an earlier rule does not cover (an
 * auditor asking for content of a metadata-only dataset) may still be
 * allowed by a later one (the dataset is open, or it holds a grant). */
#include "gb_policy.h"

#include <string.h>

#include "gb_codec.h"
#include "gb_error.h"

static gb_decision deny(int error, const char *reason)
{
	return (gb_decision){.allowed = false, .error = error, .reason = reason};
}

static gb_decision allow(const char *reason)
{
	return (gb_decision){.allowed = true, .error = 0, .reason = reason};
}

/* A conditional dataset: the grant must be in force and carry the right. */
static gb_decision decide_by_grant(const gb_registry *reg, const gb_grant *g,
				   gb_action action, int64_t now_ns)
{
	gb_decision d;

	if (!g)
		return deny(GB_EPERM, "no grant");
	if (g->starts_ns && now_ns < g->starts_ns)
		return deny(GB_EPERM, "grant not yet valid");
	if (now_ns >= g->expires_ns)
		return deny(GB_EEXPIRED, "grant expired");
	switch (action) {
	case GB_ACTION_SUBSCRIBE:
		if (!(g->rights & GB_RIGHT_SUBSCRIBE))
			return deny(GB_EPERM, "grant does not include subscribe");
		break;
	case GB_ACTION_REPLAY:
		if (!(g->rights & GB_RIGHT_REPLAY))
			return deny(GB_EPERM, "grant does not include replay");
		if (g->history == GB_HISTORY_NONE)
			return deny(GB_EPERM, "history none: replay not allowed");
		break;
	case GB_ACTION_READ_CONTENT:
		if (!(g->rights & (GB_RIGHT_SUBSCRIBE | GB_RIGHT_REPLAY)))
			return deny(GB_EPERM, "grant carries no right");
		break;
	default:
		return deny(GB_EPERM, "unknown action");
	}
	d = allow("granted");
	d.grant = g;
	if (action == GB_ACTION_REPLAY && g->history == GB_HISTORY_SINCE_GRANT)
		d.history_from_ns = g->starts_ns; /* the loader requires it */
	return d;
}

/* The audit trail is written by the broker alone and read (subscribe,
 * replay) by auditors only. It holds no dataset content, so
 * there is no key to hold either. */
static gb_decision decide_audit_trail(const gb_department *who,
				      gb_action action)
{
	if (who->role != GB_ROLE_AUDITOR)
		return deny(GB_EPERM, "the audit trail is for auditors only");
	if (action == GB_ACTION_SUBSCRIBE || action == GB_ACTION_REPLAY)
		return allow("auditor");
	return deny(GB_EPERM, "only the broker writes the audit trail");
}

gb_decision gb_policy_decide(const gb_registry *reg, const char *dept,
			     gb_action action, const char *dataset,
			     int64_t now_ns)
{
	const gb_department *who = gb_registry_find_department(reg, dept);
	const gb_dataset *ds;

	if (!who)
		return deny(GB_EAUTH, "unknown department");
	if (dataset && !strcmp(dataset, GB_AUDIT_STREAM))
		return decide_audit_trail(who, action);
	ds = gb_registry_find_dataset(reg, dataset);
	if (!ds)
		return deny(GB_ENOTFOUND, "unknown dataset");
	if (action != GB_ACTION_PUBLISH && action != GB_ACTION_SUBSCRIBE &&
	    action != GB_ACTION_REPLAY && action != GB_ACTION_READ_CONTENT)
		return deny(GB_EPERM, "unknown action");

	if (!strcmp(ds->owner, who->id))
		return allow("owner");
	if (action == GB_ACTION_PUBLISH)
		return deny(GB_EPERM, "only the owner may publish");

	if (who->role == GB_ROLE_AUDITOR) {
		if (action != GB_ACTION_READ_CONTENT)
			return allow("auditor");
		if (ds->audit_access == GB_AUDIT_CONTENT)
			return allow("auditor with content access");
		/* Metadata-only audit: the sharing rules may still allow. */
		if (ds->sharing == GB_SHARING_CLOSED)
			return deny(GB_EPERM, "audit access is metadata only");
	}

	switch (ds->sharing) {
	case GB_SHARING_OPEN:
		return allow("open dataset");
	case GB_SHARING_CONDITIONAL:
		return decide_by_grant(reg,
				       gb_registry_find_grant(reg, ds->id, who->id),
				       action, now_ns);
	case GB_SHARING_CLOSED:
		return deny(GB_EPERM, "dataset is closed");
	}
	return deny(GB_EPERM, "unknown sharing type");
}

const char *gb_action_name(gb_action action)
{
	switch (action) {
	case GB_ACTION_PUBLISH:
		return "publish";
	case GB_ACTION_SUBSCRIBE:
		return "subscribe";
	case GB_ACTION_REPLAY:
		return "replay";
	case GB_ACTION_READ_CONTENT:
		return "read-content";
	}
	return "unknown";
}
