/* govbus access policy: pure decisions over a registry snapshot.
 *
 * gb_policy_decide() depends only on its arguments, so every rule is a row
 * in a unit-test table. Deny by default. */
#ifndef GB_POLICY_H
#define GB_POLICY_H

#include "gb_config.h"

typedef enum {
	GB_ACTION_PUBLISH = 0,   /* append to the dataset's stream */
	GB_ACTION_SUBSCRIBE,     /* receive records published from now on */
	GB_ACTION_REPLAY,        /* read records published before now */
	GB_ACTION_READ_CONTENT,  /* hold the dataset key (receive key wraps) */
} gb_action;

typedef struct gb_decision {
	bool allowed;
	int error;                    /* 0, or GB_EPERM / GB_ENOTFOUND / GB_EEXPIRED / GB_EAUTH */
	const char *reason;           /* static sentence, e.g. "no grant of tax.invoices to health" is
					 built by the caller; this is the rule: "dataset is closed" */
	const gb_grant *grant;        /* the grant that allowed it, if any */
	int64_t history_from_ns;      /* REPLAY: earliest broker time readable (0 = all) */
} gb_decision;

/* Decide whether `dept` may perform `action` on `dataset` at `now_ns`.
 * Rules (deny by default):
 *  - unknown department: GB_EAUTH; unknown dataset: GB_ENOTFOUND.
 *  - PUBLISH: only the owner.
 *  - owner: every action.
 *  - auditor role: SUBSCRIBE and REPLAY on every dataset (metadata and
 *    ciphertext); READ_CONTENT only where audit_access is content.
 *  - open: every registered department may SUBSCRIBE, REPLAY, READ_CONTENT.
 *  - conditional: needs a grant to dept carrying the right (SUBSCRIBE needs
 *    subscribe, REPLAY needs replay, READ_CONTENT needs either), whose
 *    starts_ns <= now < expires_ns; an expired grant gives GB_EEXPIRED;
 *    REPLAY with history none is denied, since-grant sets history_from_ns to
 *    the grant's starts_ns (the loader requires starts for since-grant).
 *  - closed: owner and auditors only.
 *  - the audit trail (GB_AUDIT_STREAM, "_audit"): auditors may SUBSCRIBE
 *    and REPLAY; nobody else may do anything. */
gb_decision gb_policy_decide(const gb_registry *reg, const char *dept,
			     gb_action action, const char *dataset,
			     int64_t now_ns);

const char *gb_action_name(gb_action action);

#endif
