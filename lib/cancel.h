/* ISC license. */
/*
 * cancel.h: cancel_previous (SPEC §4): right after a dispatch, stop the
 * still-running earlier builds of the same branch and report them as
 * "error: cancelled by <new job ID>".  Borrows the document.
 */
#ifndef ALBA_CANCEL_H
#define ALBA_CANCEL_H

#include <stddef.h>

#include <jv.h>

struct alba_service;

/*
 * When doc.config.cancel_previous is true: list the children of doc.job.parent
 * in doc.job.namespace whose meta REPO_URL and BRANCH equal doc.build's
 * repo_url and branch, that are pending or running, not stopped, and were
 * created before doc.job.id (smaller CreateIndex: a late, older dispatch never
 * cancels a newer build); for each, post "error" "cancelled by <doc.job.id>"
 * to the forge (its commit and flavor from its meta), then stop it (DELETE
 * /v1/job/<id>).  The status goes first, so a watcher that sees the job die
 * finds a final status and leaves it.  *cancelled (if not NULL) gets the array
 * of the IDs stopped.  Returns 0 (also when there is nothing to do), or an HTTP
 * status (Nomad's, or 503 unreachable) with err set; a forge failure is only
 * warned about.  Borrows doc.
 */
int alba_cancel_previous(const struct alba_service *nomad, jv doc, jv *cancelled,
    char *err, size_t errlen);

#endif
