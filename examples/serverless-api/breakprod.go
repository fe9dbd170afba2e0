package main

// deliberatelyBreakProd makes the function fail every request for / when its STAGE is prod,
// while /healthz keeps answering 200. It fails the way a real regression does: the handler
// returns an error, so Lambda counts an error for the version that ran (the metric the prod
// alarms judge, by ExecutedVersion) and the HTTP API answers 500. The broken version passes
// its pre-traffic hook and starts receiving traffic, and it is the prod alarm that has to
// notice and put the alias back. Dev is never affected, so the same revision still passes
// dev's integration tests on its way to prod.
//
// `sluice demo --aws --break-prod` flips this by replacing the text below in this file and
// committing.
const deliberatelyBreakProd = false
