package awsclient_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"testing"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"

	"github.com/sluicehq/sluice/internal/awsclient"
	"github.com/sluicehq/sluice/internal/fakeaws"
)

// TestResponseReadAfterRequestBodyClosed holds the transport's write of a request body until
// the SDK has the response's headers and has closed that body, the order a fast server and a
// slow client goroutine make now and then: the response is still read whole, on an open
// connection, and the request's write is not counted a failure.
//
// Without the option, smithy-go's closed body ends net/http's drain with io.EOF and the
// transport closes the connection under the reader; the "without" case pins that, so that the
// day an SDK release stops doing it, this test says the option can go.
func TestResponseReadAfterRequestBodyClosed(t *testing.T) {
	fake, err := fakeaws.Start(fakeaws.Config{Accounts: []string{"111111111111"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	keys, _ := fake.Root("111111111111")

	for _, tc := range []struct {
		name  string
		fixed bool
	}{{"with the option", true}, {"without", false}} {
		t.Run(tc.name, func(t *testing.T) {
			held := &heldConns{release: make(chan struct{}), closed: make(chan struct{})}
			opts := []func(*config.LoadOptions) error{
				config.WithRegion("eu-west-1"),
				config.WithBaseEndpoint(fake.URL),
				config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(keys.AccessKeyID, keys.SecretAccessKey, "")),
				config.WithRetryMaxAttempts(1),
				config.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
					tr.DialContext = held.dial
				})),
			}
			if tc.fixed {
				opts = append(opts, awsclient.LoadOption())
			}
			cfg, err := config.LoadDefaultConfig(context.Background(), opts...)
			if err != nil {
				t.Fatal(err)
			}

			wrote := make(chan error, 1)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
				WroteRequest: func(info httptrace.WroteRequestInfo) { wrote <- info.Err },
			})
			var writeErr error
			_, callErr := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}, func(o *sts.Options) {
				o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
					// Innermost of all: it runs once client.Do has returned the response, whose
					// body the operation's deserializer has yet to read, and smithy-go has
					// closed the request's body.
					return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("releaseBodyWrite",
						func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
							out, md, err := next.HandleDeserialize(ctx, in)
							if err != nil {
								return out, md, err
							}
							close(held.release)
							select {
							case writeErr = <-wrote:
							case <-ctx.Done():
								return out, md, errors.New("the transport never finished writing the request")
							}
							if writeErr != nil {
								// The writeLoop closes the connection after reporting the error.
								select {
								case <-held.closed:
								case <-ctx.Done():
								}
							}
							return out, md, err
						}), middleware.After)
				})
			})
			if !held.heldBody() {
				t.Fatal("the transport wrote the request's body with its headers, so the test could not hold it back; it needs rewriting for this net/http")
			}
			if tc.fixed {
				if callErr != nil {
					t.Fatalf("GetCallerIdentity: %v", callErr)
				}
				if writeErr != nil {
					t.Fatalf("the transport counted the request's write a failure: %v", writeErr)
				}
				return
			}
			if callErr == nil || !errors.Is(callErr, net.ErrClosed) || writeErr == nil {
				t.Fatalf("without the option: call error %v, write error %v; want the connection closed under the reader. "+
					"If this SDK no longer fails here, awsclient.LoadOption can go", callErr, writeErr)
			}
		})
	}
}

// heldConns are the connections of one client: each returns at most a few bytes a read, so
// that a response is read in many reads, and holds a request body's write, once it is on the
// wire, until release is closed.
type heldConns struct {
	release chan struct{}
	closed  chan struct{} // closed once a connection is closed

	mu        sync.Mutex
	held      bool
	closeOnce sync.Once
}

func (h *heldConns) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &heldConn{Conn: c, h: h}, nil
}

func (h *heldConns) heldBody() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.held
}

type heldConn struct {
	net.Conn
	h *heldConns
}

func (c *heldConn) Read(p []byte) (int, error) {
	return c.Conn.Read(p[:min(len(p), 32)])
}

func (c *heldConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err != nil || strings.HasPrefix(string(p), "POST / HTTP/1.1\r\n") {
		return n, err
	}
	c.h.mu.Lock()
	c.h.held = true
	c.h.mu.Unlock()
	select {
	case <-c.h.release:
	case <-time.After(time.Minute):
	}
	return n, err
}

func (c *heldConn) Close() error {
	err := c.Conn.Close()
	c.h.closeOnce.Do(func() { close(c.h.closed) }) // once reads can only fail
	return err
}
