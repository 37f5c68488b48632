package queue

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		url  string
		want Endpoint // scheme is not compared
		err  string   // substring of the error; "" for success
	}{
		{url: "redis://localhost", want: Endpoint{Mode: ModeSingle, Addrs: []string{"localhost:6379"}}},
		{url: "redis://10.0.0.5:6380/2", want: Endpoint{Mode: ModeSingle, Addrs: []string{"10.0.0.5:6380"}, DB: 2}},
		{url: "redis://:s3cret@h:1/", want: Endpoint{Mode: ModeSingle, Addrs: []string{"h:1"}, Password: "s3cret"}},
		{url: "redis://cl:p%40ss%2Fw@h", want: Endpoint{Mode: ModeSingle, Addrs: []string{"h:6379"}, Username: "cl", Password: "p@ss/w"}},
		{url: "redis://u:a/b?c@h:7/1", want: Endpoint{Mode: ModeSingle, Addrs: []string{"h:7"}, Username: "u", Password: "a/b?c", DB: 1}},
		{url: "rediss://h:6380?tls_ca=/etc/ca.pem&dial_timeout=3&read_timeout=500ms&pool_size=20&client_name=cl",
			want: Endpoint{Mode: ModeSingle, TLS: true, Addrs: []string{"h:6380"}, TLSCAFile: "/etc/ca.pem",
				DialTimeout: 3 * time.Second, ReadTimeout: 500 * time.Millisecond, PoolSize: 20, ClientName: "cl"}},
		{url: "redis://[::1]:7000", want: Endpoint{Mode: ModeSingle, Addrs: []string{"[::1]:7000"}}},
		{url: "redis://[::1]", want: Endpoint{Mode: ModeSingle, Addrs: []string{"[::1]:6379"}}},
		{url: "redis-sentinel://:pw@s1,s2:26380,s3/3?master=mymaster&sentinel_password=sp",
			want: Endpoint{Mode: ModeSentinel, Addrs: []string{"s1:26379", "s2:26380", "s3:26379"}, Password: "pw",
				DB: 3, MasterName: "mymaster", SentinelPassword: "sp"}},
		{url: "rediss-sentinel://s1?master=m", want: Endpoint{Mode: ModeSentinel, TLS: true, Addrs: []string{"s1:26379"}, MasterName: "m"}},
		{url: "redis-cluster://h1:7000,h2:7001,h3", want: Endpoint{Mode: ModeCluster, Addrs: []string{"h1:7000", "h2:7001", "h3:6379"}}},
		{url: "rediss-cluster://u:p@h1:7000/0", want: Endpoint{Mode: ModeCluster, TLS: true, Addrs: []string{"h1:7000"}, Username: "u", Password: "p"}},

		{url: "localhost:6379", err: "missing scheme"},
		{url: "http://h", err: "unknown scheme"},
		{url: "redis://", err: "no host"},
		{url: "redis://h1,h2", err: "names one server"},
		{url: "redis://h/x", err: "database"},
		{url: "redis://h:0", err: "port"},
		{url: "redis://h:99999", err: "port"},
		{url: "redis://h,", err: "empty host"},
		{url: "redis-cluster://h/1", err: "only database 0"},
		{url: "redis-sentinel://s1", err: "master"},
		{url: "redis://h?master=m", err: "redis-sentinel"},
		{url: "redis://h?tls_ca=x", err: "rediss"},
		{url: "redis://h?cluster=true", err: "unknown option"},
		{url: "redis://h?dial_timeout=soon", err: "duration"},
		{url: "redis://u:hunter2@h?bogus=1", err: "unknown option"},
	}
	for _, tc := range tests {
		got, err := ParseURL(tc.url)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseURL(%q): error %v, want one containing %q", tc.url, err, tc.err)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("ParseURL(%q): error shows the password: %v", tc.url, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tc.url, err)
			continue
		}
		got.scheme = ""
		if !reflect.DeepEqual(*got, tc.want) {
			t.Errorf("ParseURL(%q):\n got %+v\nwant %+v", tc.url, *got, tc.want)
		}
	}
}

func TestEndpointStringHidesPassword(t *testing.T) {
	ep, err := ParseURL("redis-sentinel://u:hunter2@s1,s2/1?master=m&sentinel_password=x")
	if err != nil {
		t.Fatal(err)
	}
	if s := ep.String(); s != "redis-sentinel://u:****@s1:26379,s2:26379/1?master=m" {
		t.Errorf("String() = %q", s)
	}
}

func TestNamesAndKeys(t *testing.T) {
	if _, err := New(nil, Namespace{}); err == nil {
		t.Error("empty cluster accepted")
	}
	if _, err := New(nil, Namespace{Cluster: "a{b}"}); err == nil {
		t.Error("cluster name with a brace accepted")
	}
	k := newKeys(Namespace{Cluster: "prod", Env: "eu"})
	for _, tc := range []struct{ key, tag string }{
		{k.Stream("role:web"), "role:web"}, {k.Run("role:web", "X"), "role:web"},
		{k.Idem("role:web", "a{b}c"), "role:web"}, {k.Lease("host:h1", "X"), "host:h1"},
		{k.Control("h1"), "host:h1"}, {k.Log("X"), "run:X"}, {k.Where("X"), "run:X"},
		{k.Seen(), "workers"}, {k.Heartbeat("h1"), "workers"},
	} {
		if !strings.HasPrefix(tc.key, "cl:prod:eu:") || hashTag(tc.key) != tc.tag {
			t.Errorf("key %q: tag %q, want prefix cl:prod:eu: and tag %q", tc.key, hashTag(tc.key), tc.tag)
		}
	}
	if id := NewID(); len(id) != 26 || checkName("id", id) != nil {
		t.Errorf("NewID() = %q", id)
	}
	a, b := NewID(), NewID()
	if a == b {
		t.Error("two equal ids")
	}
}

// hashTag returns what Redis Cluster hashes: the text between the first '{'
// and the next '}', when not empty.
func hashTag(key string) string {
	i := strings.IndexByte(key, '{')
	if i < 0 {
		return key
	}
	j := strings.IndexByte(key[i+1:], '}')
	if j <= 0 {
		return key
	}
	return key[i+1 : i+1+j]
}

// TestParseURLErrorsHidePasswords: a URL that fails to parse is quoted in
// the error with every credential masked, and the error's own words quote
// no fragment of a password either.
func TestParseURLErrorsHidePasswords(t *testing.T) {
	for _, raw := range []string{
		"redis://:S3c%zzret@h:6379/0",
		"redis://:S3cret@h:notaport/0",
		"redis://:S3cret@h:6379/x",
		"redis-sentinel://u:S3cret@s1/0",
		"redis-sentinel://s1/0?master=m&sentinel_password=S3c%zzret",
		"redis://:S3cret@h:6379/0?sentinel_password=S3cret",
		"redis://:S3cret@h:6379/0?pool_size=0",
	} {
		_, err := ParseURL(raw)
		if err == nil {
			t.Errorf("ParseURL(%q): no error", raw)
			continue
		}
		if strings.Contains(err.Error(), "S3c") || strings.Contains(err.Error(), "zz") {
			t.Errorf("ParseURL(%q): error leaks the password: %v", raw, err)
		}
	}
}
