#!/usr/bin/env bats
# HCL job specs through HashiCorp's parser (npm @cdktf/hcl2json) and
# test/emu/hcl2nomad.py onto Nomad's JSON job.

load helpers

H2N() { python3 "$TOP/test/emu/hcl2nomad.py" "$@"; }

setup() {
	[ -d "$TOP/test/node/node_modules/@cdktf/hcl2json" ] || [ -n "${HCL2JSON_NODE_PATH:-}" ] || {
		echo "missing: npm install --prefix test/node @cdktf/hcl2json" >&2
		return 1
	}
}

@test "fixture builder: parameterized batch job with the albatros contract" {
	run H2N "$TOP/test/fixtures/builder-test.hcl"
	assert_success
	echo "$output" >"$BATS_TEST_TMPDIR/job.json"
	J=$BATS_TEST_TMPDIR/job.json
	run jq -c '.Job | {ID, Name, Type, Datacenters}' "$J"
	assert_output '{"ID":"builder","Name":"builder","Type":"batch","Datacenters":["dc1"]}'
	run jq -c '.Job.ParameterizedJob' "$J"
	assert_output '{"Payload":"optional","MetaRequired":["REPO_URL","COMMIT","BRANCH","FLAVOR"],"MetaOptional":["PR"]}'
	run jq -c '.Job.TaskGroups[] | {Name, Count, r: .RestartPolicy.Attempts, rs: .ReschedulePolicy.Attempts, u: .ReschedulePolicy.Unlimited, t: [.Tasks[].Name]}' "$J"
	assert_output '{"Name":"runner","Count":1,"r":0,"rs":0,"u":false,"t":["executor"]}'
	run jq -c '.Job.TaskGroups[0].Tasks[0] | {Driver, DispatchPayload, cmd: .Config.command, lc: .LogConfig.MaxFiles}' "$J"
	assert_output '{"Driver":"raw_exec","DispatchPayload":{"File":"secret.txt"},"cmd":"/bin/sh","lc":2}'
	# run-time interpolations stay strings for Nomad to resolve
	run jq -r '.Job.TaskGroups[0].Tasks[0].Env.SECRET_PATH' "$J"
	assert_output '${NOMAD_SECRETS_DIR}/secret.txt'
}

@test "syntax error: exit 1 with file and line" {
	printf 'job "x" {\n  type = \n}\n' >"$BATS_TEST_TMPDIR/bad.hcl"
	run H2N "$BATS_TEST_TMPDIR/bad.hcl"
	assert_failure 1
	assert_output --partial "bad.hcl"
	assert_output --regexp 'bad\.hcl:2'
	printf 'job "x" {\n  group "g" {\n' >"$BATS_TEST_TMPDIR/unclosed.hcl"
	run H2N "$BATS_TEST_TMPDIR/unclosed.hcl"
	assert_failure 1
}

@test "structure errors: no job, no task, bad duration, bad payload mode" {
	printf 'variable "x" {}\n' >"$BATS_TEST_TMPDIR/a.hcl"
	run H2N "$BATS_TEST_TMPDIR/a.hcl"
	assert_failure 1
	assert_output --partial "exactly one job"
	printf 'job "x" {\n  group "g" {}\n}\n' >"$BATS_TEST_TMPDIR/b.hcl"
	run H2N "$BATS_TEST_TMPDIR/b.hcl"
	assert_failure 1
	assert_output --partial 'has no task'
	cat >"$BATS_TEST_TMPDIR/c.hcl" <<-'EOF'
	job "x" {
	  group "g" {
	    restart { delay = "soon" }
	    task "t" { driver = "docker" }
	  }
	}
	EOF
	run H2N "$BATS_TEST_TMPDIR/c.hcl"
	assert_failure 1
	assert_output --partial 'invalid duration'
	cat >"$BATS_TEST_TMPDIR/d.hcl" <<-'EOF'
	job "x" {
	  parameterized { payload = "sometimes" }
	  group "g" { task "t" { driver = "docker" } }
	}
	EOF
	run H2N "$BATS_TEST_TMPDIR/d.hcl"
	assert_failure 1
	run H2N "$BATS_TEST_TMPDIR/missing.hcl"
	assert_failure 2
}

@test "durations become nanoseconds, docker config and defaults are kept" {
	cat >"$BATS_TEST_TMPDIR/j.hcl" <<-'EOF'
	job "svc" {
	  group "g" {
	    count = 2
	    restart {
	      attempts = 1
	      delay    = "1m30s"
	      interval = "10m"
	    }
	    task "t" {
	      driver = "docker"
	      config {
	        image = "alpine:3"
	        args  = ["sh", "-c", "true"]
	      }
	    }
	  }
	}
	EOF
	run H2N "$BATS_TEST_TMPDIR/j.hcl"
	assert_success
	echo "$output" >"$BATS_TEST_TMPDIR/j.json"
	run jq -c '.Job | {Type, Datacenters, P: .ParameterizedJob, g: (.TaskGroups[0] | {Count, d: .RestartPolicy.Delay, i: .RestartPolicy.Interval, a: .RestartPolicy.Attempts, img: .Tasks[0].Config.image})}' "$BATS_TEST_TMPDIR/j.json"
	assert_output '{"Type":"service","Datacenters":["*"],"P":null,"g":{"Count":2,"d":90000000000,"i":600000000000,"a":1,"img":"alpine:3"}}'
}

@test "shipped hcl/builder.hcl and hcl/demo.hcl parse and meet the builder contract" {
	local f
	for f in builder demo; do
		H2N "$TOP/hcl/$f.hcl" >"$BATS_TEST_TMPDIR/$f.json"
		run jq -c '.Job | [(.ParameterizedJob.MetaRequired | sort | join(",")),
			.ParameterizedJob.Payload, .Type, .Namespace,
			(.TaskGroups[] | select(.Name == "runner") | .ReschedulePolicy.Attempts,
			.RestartPolicy.Attempts,
			(.Tasks[] | select(.Name == "executor") | .DispatchPayload.File))]' "$BATS_TEST_TMPDIR/$f.json"
		assert_output '["BRANCH,COMMIT,FLAVOR,REPO_URL","optional","batch","ci",0,0,"secret.txt"]'
	done
}
