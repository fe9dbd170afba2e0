package main

// deliberatelyBreakProd makes the service answer 500 to every request for / and /version when it
// runs in the prod environment, while /healthz keeps answering 200. A broken version therefore
// passes its health check and its pre-traffic hook and starts receiving traffic, and it is the
// prod alarm that has to notice the errors and roll the deployment back. Dev is never affected,
// so the same revision still passes dev's integration tests on its way to prod.
//
// `sluice demo --break-prod` flips this by replacing the text below in this file and committing.
const deliberatelyBreakProd = false
