#!/usr/bin/env bash
# SIGHUP reloads keygated.conf: a valid file's on-the-fly settings apply, a
# setting bound at start is reported as needing a restart, and an invalid file
# is refused while keygated keeps serving on the running configuration.
. "$(dirname "$0")/lib.sh"

D=$T/data
kg_init "$D"
kg_start "$D" || exit 1
adm product add DEMO --name Demo --price 100 >/dev/null
adm edition add DEMO STD >/dev/null
adm release publish DEMO 1.0 --date "$(day -10)" >/dev/null
KEY=$(adm key issue DEMO STD --licensee "Reload Ltd" 2>/dev/null)

cli check --key "$KEY" --product DEMO --version 1.0 >/dev/null
check "no debug lines at log_level info" bash -c "! grep -q 'keygated\[debug\]' '$D/keygated.log'"

# A valid change of an on-the-fly setting applies after SIGHUP.
echo "log_level = debug" >>"$D/keygated.conf"
kill -HUP "$KG_PID"
check "reload logged" kg_wait_log "SIGHUP: configuration reloaded"
cli check --key "$KEY" --product DEMO --version 1.0 >/dev/null
check "debug lines after reload" kg_wait_log "keygated\[debug\]"

# A setting bound at start keeps its running value and says so (listen is
# given on the command line here, which wins over the file).
echo "map_size_mb = 2048" >>"$D/keygated.conf"
kill -HUP "$KG_PID"
check "map size change needs a restart" kg_wait_log "SIGHUP: map_size_mb changed: restart keygated"
cli check --key "$KEY" --product DEMO --version 1.0 >/dev/null
expect_eq "still serving on the old port" "$?" "0"

# An invalid file is refused; the running configuration stays.
echo "no_such_setting = 1" >>"$D/keygated.conf"
kill -HUP "$KG_PID"
check "invalid file refused" kg_wait_log "configuration not reloaded"
check "the bad line is named" kg_wait_log "unknown setting \"no_such_setting\""
cli check --key "$KEY" --product DEMO --version 1.0 >/dev/null
expect_eq "still serving after a bad reload" "$?" "0"
check "keygated still running" kill -0 "$KG_PID"
kg_done
