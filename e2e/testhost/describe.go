package testhost

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// Description is the JSON form of a running fleet, written by
// `testhosts up -o FILE` for bench scripts and other processes.
type Description struct {
	ID             string            `json:"id"`
	OwnerPID       int               `json:"owner_pid"`
	BridgeIP       string            `json:"bridge_ip"`
	Subnet         string            `json:"subnet"`
	User           string            `json:"user"`
	KeyPath        string            `json:"key_path"`
	KnownHostsPath string            `json:"known_hosts_path"`
	Dir            string            `json:"dir"`
	Hosts          []HostDescription `json:"hosts"`
}

// HostDescription is one host of a Description.
type HostDescription struct {
	Name           string `json:"name"`
	Address        string `json:"address"`
	Port           int    `json:"port"`
	User           string `json:"user"`
	KeyPath        string `json:"key_path"`
	KnownHostsPath string `json:"known_hosts_path"`
	BridgeIP       string `json:"bridge_ip"`
	NetNS          string `json:"netns"`
	Root           string `json:"root"` // directory holding the host's bind-mount sources
}

// Describe returns the fleet's Description.
func (f *Fleet) Describe() Description {
	d := Description{ID: f.ID(), OwnerPID: f.st.PID, BridgeIP: f.BridgeIP(), Subnet: f.subnet.String(),
		User: f.User, KeyPath: f.KeyPath, KnownHostsPath: f.KnownHostsPath, Dir: f.Dir}
	for _, h := range f.Hosts {
		d.Hosts = append(d.Hosts, HostDescription{Name: h.Name, Address: h.Addr, Port: h.Port,
			User: f.User, KeyPath: f.KeyPath, KnownHostsPath: f.KnownHostsPath,
			BridgeIP: d.BridgeIP, NetNS: h.netns, Root: h.rootDir()})
	}
	return d
}

// WriteFile writes the description as indented JSON, atomically (readers
// polling for the file never see it half-written).
func (d Description) WriteFile(path string) error {
	data, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return fmt.Errorf("encode fleet description: %w", err)
	}
	if err := writeFileAtomic(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write fleet description %s: %w", path, err)
	}
	return nil
}

// ReadDescription reads a file written by Description.WriteFile.
func ReadDescription(path string) (Description, error) {
	var d Description
	data, err := os.ReadFile(path)
	if err != nil {
		return d, fmt.Errorf("read fleet description: %w", err)
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return d, fmt.Errorf("parse fleet description %s: %w", path, err)
	}
	return d, nil
}

// AnsibleInventory renders an Ansible INI inventory: every host in group
// [testhosts] (and so in "all"), with the test user, key and strict
// known_hosts checking as group vars.
func (d Description) AnsibleInventory() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# celeroot test fleet %s\n[testhosts]\n", d.ID)
	for _, h := range d.Hosts {
		fmt.Fprintf(&b, "%s ansible_host=%s ansible_port=%d\n", h.Name, h.Address, h.Port)
	}
	fmt.Fprintf(&b, "\n[testhosts:vars]\nansible_user=%s\nansible_ssh_private_key_file=%s\n", d.User, d.KeyPath)
	fmt.Fprintf(&b, "ansible_ssh_common_args='-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes'\n", d.KnownHostsPath)
	b.WriteString("ansible_python_interpreter=/usr/bin/python3\n")
	return b.String()
}
