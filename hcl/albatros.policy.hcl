# The Nomad ACL policy of albatros's jobs (hcl/albatros.hcl and
# hcl/albatros-sync.hcl), attached to each so that its workload identity
# carries it:
#
#   nomad acl policy apply -namespace albatros -job albatros albatros hcl/albatros.policy.hcl
#   nomad acl policy apply -namespace albatros -job albatros-sync albatros-sync hcl/albatros.policy.hcl
#
# In the builders' namespace only: dispatch a build (dispatch-job), read
# builds and their allocations (read-job, list-jobs), stream their logs
# (read-logs), stop one (submit-job: cancel_previous and a build not placed
# in time; Nomad has no narrower capability for a stop).  No node, agent or
# operator rights, nothing in any other namespace.  A namespace other than
# ci: edit it here and give the jobs -var builds_namespace=NAME.
namespace "ci" {
  capabilities = ["dispatch-job", "read-job", "list-jobs", "read-logs", "submit-job"]
}
