// Command rawclient is a Lambda bootstrap that speaks the Runtime API with net/http alone, as
// a custom runtime written from its documentation would, built by lambdarun's tests. Its
// environment variable RAW_MODE says what it does: echo (default: answer every invocation with
// what it received), answer-once, init-error, bad-id or stream-fail.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	base := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime/"
	mode := os.Getenv("RAW_MODE")
	if mode == "init-error" {
		fmt.Fprintln(os.Stderr, "rawclient: init failed on purpose")
		post(base+"init/error", "Runtime.ConfigError", []byte(`{"errorType":"Runtime.ConfigError","errorMessage":"no configuration"}`))
		os.Exit(1)
	}
	for {
		res, err := http.Get(base + "invocation/next")
		if err != nil {
			fmt.Fprintln(os.Stderr, "rawclient:", err)
			os.Exit(2)
		}
		payload, _ := io.ReadAll(res.Body)
		res.Body.Close()
		id := res.Header.Get("Lambda-Runtime-Aws-Request-Id")
		switch mode {
		case "answer-once":
			post(base+"invocation/"+id+"/response", "", []byte(`{"answered":true}`))
			time.Sleep(time.Hour) // never asks for the next invocation
		case "bad-id":
			status := post(base+"invocation/not-"+id+"/response", "", []byte(`{}`))
			post(base+"invocation/"+id+"/response", "", []byte(fmt.Sprintf(`{"bad_id_status":%d}`, status)))
		case "stream-fail":
			body := base64.StdEncoding.EncodeToString([]byte(`{"errorType":"Stream.Broken","errorMessage":"half way"}`))
			req, _ := http.NewRequest(http.MethodPost, base+"invocation/"+id+"/response", io.MultiReader(strings.NewReader(`{"partial":`)))
			req.Trailer = http.Header{"Lambda-Runtime-Function-Error-Type": {"Stream.Broken"}, "Lambda-Runtime-Function-Error-Body": {body}}
			req.ContentLength = -1
			if r, err := http.DefaultClient.Do(req); err == nil {
				r.Body.Close()
			}
		default:
			headers := map[string]string{}
			for k := range res.Header {
				headers[k] = res.Header.Get(k)
			}
			env := map[string]string{}
			for _, kv := range os.Environ() {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
			out, _ := json.Marshal(map[string]any{"payload": json.RawMessage(payload), "headers": headers, "env": env, "status": res.StatusCode})
			post(base+"invocation/"+id+"/response", "", out)
		}
	}
}

// post sends body and returns the status the Runtime API answered.
func post(url, errorType string, body []byte) int {
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if errorType != "" {
		req.Header.Set("Lambda-Runtime-Function-Error-Type", errorType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rawclient:", err)
		os.Exit(2)
	}
	res.Body.Close()
	return res.StatusCode
}
