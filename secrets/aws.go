package secrets

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/celeroot/celeroot/config"
)

// awsProvider reads AWS Secrets Manager (GetSecretValue): NAME is the
// secret PATH/NAME; a JSON SecretString is the map #KEY picks from;
// @VERSION is a version stage when it is upper case (AWSCURRENT,
// AWSPREVIOUS), a version id otherwise. The keys come from the environment
// variables secrets.key_id_env (default AWS_ACCESS_KEY_ID) and
// secrets.secret_env (AWS_SECRET_ACCESS_KEY) or the file secrets.secret_file,
// with AWS_SESSION_TOKEN when set; requests are signed with SigV4 by the SDK.
type awsProvider struct {
	region, endpoint, prefix string
	keyIDEnv, caFile         string
	secret                   credential
	httpClient               *http.Client
}

const awsTimeout = 15 * time.Second

func newAWS(cfg *config.Config) (*awsProvider, error) {
	s := cfg.Secrets
	if s.Region == "" {
		return nil, errors.New("secrets.provider aws-secrets needs secrets.region")
	}
	return &awsProvider{region: s.Region, endpoint: s.Endpoint, prefix: s.Path, caFile: pathOr(cfg, s.CAFile), keyIDEnv: envOr(s.KeyIDEnv, "AWS_ACCESS_KEY_ID"),
		secret: credential{file: pathOr(cfg, s.SecretFile), env: envOr(s.SecretEnv, "AWS_SECRET_ACCESS_KEY"), what: "AWS secret access key", keys: "secrets.secret_file or secrets.secret_env"}}, nil
}

// Retrieve implements aws.CredentialsProvider from the named variables and
// file, read at each call.
func (p *awsProvider) Retrieve(context.Context) (aws.Credentials, error) {
	id := getenv(p.keyIDEnv)
	if id == "" {
		return aws.Credentials{}, fmt.Errorf("no AWS access key id: set the environment variable %s (secrets.key_id_env)", p.keyIDEnv)
	}
	sk, err := p.secret.read()
	if err != nil {
		return aws.Credentials{}, err
	}
	return aws.Credentials{AccessKeyID: id, SecretAccessKey: sk, SessionToken: getenv("AWS_SESSION_TOKEN"), Source: "cl.yaml secrets"}, nil
}

func (p *awsProvider) Get(ctx context.Context, r Ref) (Value, error) {
	o := secretsmanager.Options{Region: p.region, Credentials: p, RetryMaxAttempts: 2}
	if p.endpoint != "" {
		o.BaseEndpoint = aws.String(p.endpoint)
	}
	if p.httpClient != nil {
		o.HTTPClient = p.httpClient
	} else if p.caFile != "" {
		hc, err := httpClientWithCA(p.caFile)
		if err != nil {
			return Value{}, err
		}
		o.HTTPClient = hc
	}
	cl := secretsmanager.New(o)
	id := r.Name
	if p.prefix != "" {
		id = path.Join(p.prefix, r.Name)
	}
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)}
	if v := r.Version; v != "" {
		if strings.ToUpper(v) == v && strings.Trim(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") == "" {
			in.VersionStage = aws.String(v)
		} else {
			in.VersionId = aws.String(v)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, awsTimeout)
	defer cancel()
	out, err := cl.GetSecretValue(ctx, in)
	var nf *types.ResourceNotFoundException
	if errors.As(err, &nf) {
		return Value{}, fmt.Errorf("%s: %w", id, ErrNotFound)
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && (ae.ErrorCode() == "AccessDeniedException" || ae.ErrorCode() == "UnrecognizedClientException" || ae.ErrorCode() == "InvalidSignatureException") {
		return Value{}, fmt.Errorf("AWS refused the request (%s): %w", ae.ErrorCode(), ErrDenied)
	}
	if err != nil {
		return Value{}, fmt.Errorf("GetSecretValue %s: %w", id, err)
	}
	if out.SecretString != nil {
		return Value{Text: *out.SecretString, Structured: true}, nil
	}
	return Value{Text: string(out.SecretBinary), Structured: true}, nil
}
