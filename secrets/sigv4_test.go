package secrets

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSigV4Vectors signs requests of AWS's Signature Version 4 test suite
// (get-vanilla, get-vanilla-query-order-key-case: the example credentials,
// us-east-1, the service "service", 2015-08-30T12:36:00Z) and compares with
// the published Authorization headers.
func TestSigV4Vectors(t *testing.T) {
	cred := awsCredentials{keyID: "AKIDEXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
	at := time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)
	const prefix = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature="
	for _, tc := range []struct{ name, url, sig string }{
		{"get-vanilla", "https://example.amazonaws.com/", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
		{"get-vanilla-query-order-key-case", "https://example.amazonaws.com/?Param2=value2&Param1=value1", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
	} {
		req, err := http.NewRequest(http.MethodGet, tc.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		sigV4{region: "us-east-1", service: "service"}.sign(req, nil, cred, at)
		if got := req.Header.Get("Authorization"); got != prefix+tc.sig {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, prefix+tc.sig)
		}
		if req.Header.Get("X-Amz-Date") != "20150830T123600Z" || req.Header.Get("X-Amz-Security-Token") != "" {
			t.Errorf("%s: headers %v", tc.name, req.Header)
		}
	}
}

func TestSigV4Canonical(t *testing.T) {
	req, _ := http.NewRequest(http.MethodPost, "https://secretsmanager.eu-west-3.amazonaws.com:443/a%20b/c", nil)
	if host := signingHost(req.URL); host != "secretsmanager.eu-west-3.amazonaws.com" {
		t.Errorf("host %q", host)
	}
	if uri := canonicalURI(req.URL); uri != "/a%2520b/c" { // encoded twice, as every service but S3 wants
		t.Errorf("uri %q", uri)
	}
	req, _ = http.NewRequest(http.MethodGet, "https://h/?b=2&a=x%20y&a=1&c", nil)
	if q := canonicalQuery(req.URL); q != "a=1&a=x%20y&b=2&c=" {
		t.Errorf("query %q", q)
	}
	sess := awsCredentials{keyID: "AKID", secretKey: "sk", sessionToken: "tok"}
	req.Header.Set("X-Amz-Target", "  a   b ")
	sigV4{region: "r", service: "s"}.sign(req, nil, sess, time.Now())
	if req.Header.Get("X-Amz-Security-Token") != "tok" {
		t.Error("no session token header")
	}
	if signed, block := canonicalHeaders(req); signed != "host;x-amz-date;x-amz-security-token;x-amz-target" || !slices.Contains(strings.Split(block, "\n"), "x-amz-target:a b") {
		t.Errorf("signed %q\n%s", signed, block)
	}
}
