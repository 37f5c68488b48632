package secrets

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/celeroot/celeroot/config"
)

// awsProvider reads AWS Secrets Manager (GetSecretValue): NAME is the
// secret PATH/NAME; a JSON SecretString is the map #KEY picks from;
// @VERSION is a version stage when it is upper case (AWSCURRENT,
// AWSPREVIOUS), a version id otherwise. The keys come from the environment
// variables secrets.key_id_env (default AWS_ACCESS_KEY_ID) and
// secrets.secret_env (AWS_SECRET_ACCESS_KEY) or the file secrets.secret_file,
// with AWS_SESSION_TOKEN when set. It speaks the service's JSON protocol
// (awsJson1_1) at https://secretsmanager.REGION.amazonaws.com, or at
// secrets.endpoint, with requests signed by SigV4 (sigv4.go).
type awsProvider struct {
	region, endpoint, prefix string
	keyIDEnv, caFile         string
	secret                   credential
	httpClient               *http.Client // tests

	mu sync.Mutex
	hc *http.Client // built at the first Get
}

const awsTimeout = 15 * time.Second

// awsAttempts is how many times a request is sent at most (the SDK's
// RetryMaxAttempts the provider used to set).
const awsAttempts = 2

// awsMaxAnswer bounds the answer read: a secret is at most 64 KiB.
const awsMaxAnswer = 1 << 20

// newAWS is the aws-secrets provider of cfg's secrets section; it reads no
// credential yet.
func newAWS(cfg *config.Config) (*awsProvider, error) {
	s := cfg.Secrets
	if s.Region == "" {
		return nil, errors.New("secrets.provider aws-secrets needs secrets.region")
	}
	return &awsProvider{region: s.Region, endpoint: s.Endpoint, prefix: s.Path, caFile: pathOr(cfg, s.CAFile), keyIDEnv: envOr(s.KeyIDEnv, "AWS_ACCESS_KEY_ID"),
		secret: credential{file: pathOr(cfg, s.SecretFile), env: envOr(s.SecretEnv, "AWS_SECRET_ACCESS_KEY"), what: "AWS secret access key", keys: "secrets.secret_file or secrets.secret_env"}}, nil
}

// credentials reads the keys from the named variables and file, at each
// call, so that rotated keys are picked up.
func (p *awsProvider) credentials() (awsCredentials, error) {
	id := getenv(p.keyIDEnv)
	if id == "" {
		return awsCredentials{}, fmt.Errorf("no AWS access key id: set the environment variable %s (secrets.key_id_env)", p.keyIDEnv)
	}
	sk, err := p.secret.read()
	if err != nil {
		return awsCredentials{}, err
	}
	return awsCredentials{keyID: id, secretKey: sk, sessionToken: getenv("AWS_SESSION_TOKEN")}, nil
}

// Get fetches the secret r names with GetSecretValue.
func (p *awsProvider) Get(ctx context.Context, r Ref) (Value, error) {
	hc, err := p.client()
	if err != nil {
		return Value{}, err
	}
	u, err := p.url()
	if err != nil {
		return Value{}, err
	}
	cred, err := p.credentials()
	if err != nil {
		return Value{}, err
	}
	id := r.Name
	if p.prefix != "" {
		id = path.Join(p.prefix, r.Name)
	}
	body, err := json.Marshal(awsSecretInput(id, r.Version))
	if err != nil {
		return Value{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, awsTimeout)
	defer cancel()
	out, err := p.getSecretValue(ctx, hc, u, cred, body)
	var ae *awsError
	if errors.As(err, &ae) && ae.code == "ResourceNotFoundException" {
		return Value{}, fmt.Errorf("%s: %w", id, ErrNotFound)
	}
	if errors.As(err, &ae) && (ae.code == "AccessDeniedException" || ae.code == "UnrecognizedClientException" || ae.code == "InvalidSignatureException") {
		return Value{}, fmt.Errorf("AWS refused the request (%s): %w", ae.code, ErrDenied)
	}
	if err != nil {
		return Value{}, fmt.Errorf("GetSecretValue %s: %w", id, err)
	}
	if out.SecretString != nil {
		return Value{Text: *out.SecretString, Structured: true}, nil
	}
	return Value{Text: string(out.SecretBinary), Structured: true}, nil
}

// client is the test hook's client, or one trusting secrets.ca_file too,
// built once.
func (p *awsProvider) client() (*http.Client, error) {
	if p.httpClient != nil {
		return p.httpClient, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hc == nil {
		hc, err := httpClientWithCA(p.caFile)
		if err != nil {
			return nil, err
		}
		p.hc = hc
	}
	return p.hc, nil
}

// url is where requests go: secrets.endpoint as a base URL, or the
// region's endpoint in its partition.
func (p *awsProvider) url() (*url.URL, error) {
	base := p.endpoint
	if base == "" {
		base = "https://secretsmanager." + p.region + "." + awsDNSSuffix(p.region)
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" || u.Scheme != "https" && u.Scheme != "http" {
		return nil, fmt.Errorf("secrets.endpoint %q is not a URL: write https://HOST[:PORT] or leave it out for the region's endpoint", base)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	return u, nil
}

// awsDNSSuffix is the domain of the partition region belongs to (China,
// the isolated and the European sovereign regions have their own).
func awsDNSSuffix(region string) string {
	for _, p := range []struct{ prefix, suffix string }{
		{"cn-", "amazonaws.com.cn"},
		{"us-iso-", "c2s.ic.gov"},
		{"us-isob-", "sc2s.sgov.gov"},
		{"us-isof-", "csp.hci.ic.gov"},
		{"eu-isoe-", "cloud.adc-e.uk"},
		{"eusc-", "amazonaws.eu"},
	} {
		if strings.HasPrefix(region, p.prefix) {
			return p.suffix
		}
	}
	return "amazonaws.com"
}

// awsGetSecretValueInput is GetSecretValue's request.
type awsGetSecretValueInput struct {
	SecretId     string
	VersionId    string `json:",omitempty"`
	VersionStage string `json:",omitempty"`
}

// awsSecretInput asks for secret id at version: a stage when it is upper
// case letters and underscores, a version id otherwise.
func awsSecretInput(id, version string) awsGetSecretValueInput {
	in := awsGetSecretValueInput{SecretId: id}
	if version != "" && strings.Trim(version, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") == "" {
		in.VersionStage = version
	} else {
		in.VersionId = version
	}
	return in
}

// awsSecretValue is the part of GetSecretValue's answer the provider uses:
// SecretBinary is base64 in the JSON.
type awsSecretValue struct {
	SecretString *string
	SecretBinary []byte
}

// getSecretValue sends the request, and again (awsAttempts) after an
// error the SDK retried: a transport error, throttling, a 5xx, or a
// signature refused because this host's clock is off (the retry is signed
// with the server's time).
func (p *awsProvider) getSecretValue(ctx context.Context, hc *http.Client, u *url.URL, cred awsCredentials, body []byte) (*awsSecretValue, error) {
	var skew time.Duration
	for attempt := 1; ; attempt++ {
		out, err := p.send(ctx, hc, u, cred, body, time.Now().Add(skew))
		if err == nil {
			return out, nil
		}
		delay, retry := awsRetry(err, &skew)
		if !retry || attempt == awsAttempts || ctx.Err() != nil {
			return nil, err
		}
		if err := sleep(ctx, delay); err != nil {
			return nil, err
		}
	}
}

// send makes one signed GetSecretValue request, signed as of t.
func (p *awsProvider) send(ctx context.Context, hc *http.Client, u *url.URL, cred awsCredentials, body []byte, t time.Time) (*awsSecretValue, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "secretsmanager.GetSecretValue")
	sigV4{region: p.region, service: "secretsmanager"}.sign(req, body, cred, t)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, awsMaxAnswer))
	if err != nil {
		return nil, fmt.Errorf("read the answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, newAWSError(resp, data, time.Now())
	}
	var out awsSecretValue
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("the answer (HTTP %d, %s) is not GetSecretValue's JSON", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return &out, nil
}

// awsError is an error answer: its type (ResourceNotFoundException), the
// service's message, and what the retry needs.
type awsError struct {
	status        int
	code, message string
	retryAfter    time.Duration // X-Amz-Retry-After, -1 when absent
	skew          time.Duration // server clock minus this host's
	hasSkew       bool
}

// Error is the type, the status and the message, on one line.
func (e *awsError) Error() string {
	s := fmt.Sprintf("HTTP %d", e.status)
	if e.code != "" {
		s = e.code + " (" + s + ")"
	}
	if e.message != "" {
		s += ": " + e.message
	}
	return s
}

// newAWSError reads an error answer received at t: the type from the
// X-Amzn-Errortype header or the body's code or __type, without a
// "namespace#" prefix or a ":detail" suffix.
func newAWSError(resp *http.Response, body []byte, t time.Time) *awsError {
	var info struct {
		Code    string
		Type    string `json:"__type"`
		Message string
	}
	_ = json.Unmarshal(body, &info)
	code := resp.Header.Get("X-Amzn-Errortype")
	if code == "" {
		code = info.Code
	}
	if code == "" {
		code = info.Type
	}
	code, _, _ = strings.Cut(code, ":")
	if _, after, ok := strings.Cut(code, "#"); ok {
		code = after
	}
	e := &awsError{status: resp.StatusCode, code: code, message: info.Message, retryAfter: -1}
	if ms, err := time.ParseDuration(resp.Header.Get("X-Amz-Retry-After") + "ms"); err == nil && ms >= 0 {
		e.retryAfter = ms
	}
	if date, err := http.ParseTime(resp.Header.Get("Date")); err == nil && resp.Header.Get("Age") == "" {
		e.skew, e.hasSkew = date.Sub(t), true
	}
	return e
}

// The error types the SDK's standard retryer retries.
var (
	awsThrottleCodes = map[string]bool{"Throttling": true, "ThrottlingException": true, "ThrottledException": true, "RequestThrottledException": true,
		"TooManyRequestsException": true, "ProvisionedThroughputExceededException": true, "TransactionInProgressException": true,
		"RequestLimitExceeded": true, "BandwidthLimitExceeded": true, "LimitExceededException": true, "RequestThrottled": true,
		"SlowDown": true, "PriorRequestNotComplete": true, "EC2ThrottledException": true}
	awsTransientCodes = map[string]bool{"RequestTimeout": true, "RequestTimeoutException": true}
	awsClockSkewCodes = map[string]bool{"InvalidSignatureException": true, "SignatureDoesNotMatch": true, "AuthFailure": true,
		"RequestTimeTooSkewed": true, "AccessDeniedException": true}
)

// awsMaxSkew is how far the clocks may differ before a refused signature
// is put down to the clock.
const awsMaxSkew = 4 * time.Minute

// awsRetry says whether err is worth another attempt and after how long,
// as the SDK's standard retryer did: a random delay up to 50 ms (up to 1 s
// after throttling) or the service's X-Amz-Retry-After within 5 s of it.
// A clock skew sets *skew to the server's offset.
func awsRetry(err error, skew *time.Duration) (time.Duration, bool) {
	var ae *awsError
	if !errors.As(err, &ae) {
		var dns *net.DNSError
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &dns) && dns.IsNotFound {
			return 0, false
		}
		return jitter(50 * time.Millisecond), true
	}
	base := 50 * time.Millisecond
	switch {
	case awsThrottleCodes[ae.code] || ae.status == http.StatusTooManyRequests:
		base = time.Second
	case ae.status == 500 || ae.status == 502 || ae.status == 503 || ae.status == 504 || awsTransientCodes[ae.code]:
	case awsClockSkewCodes[ae.code] && ae.hasSkew && (ae.skew-*skew > awsMaxSkew || *skew-ae.skew > awsMaxSkew):
		*skew = ae.skew
	default:
		return 0, false
	}
	d := jitter(base)
	if ae.retryAfter >= 0 {
		d = min(max(ae.retryAfter, d), d+5*time.Second)
	}
	return d, true
}
