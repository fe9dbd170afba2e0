module hello-api

go 1.26
