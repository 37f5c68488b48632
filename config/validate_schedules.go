package config

import (
	"errors"
	"fmt"
	"time"
)

func (c *Config) validateSchedules(k checker) {
	for _, s := range c.Schedules.Values() {
		p := "schedules." + s.Name
		k.name(p, s.Name, "schedule")
		k.cron(p+".cron", s.Cron)
		if _, err := time.LoadLocation(s.Timezone); err != nil || s.Timezone == "Local" {
			k.err(p+".timezone", "use an IANA zone name such as UTC, Europe/Berlin or America/New_York", "unknown timezone %q", s.Timezone)
		}
		k.oneOf(p+".catchup", s.Catchup, CatchupModes)
		k.oneOf(p+".concurrency", string(s.Concurrency), ConcurrencyPolicies)
		if k.c.setPaths[p+".starting_deadline"] && s.StartingDeadline.D() <= 0 {
			k.err(p+".starting_deadline", "use a positive duration such as 1h", "starting_deadline must be positive")
		}
		c.validateTargets(k, s, p)
		if s.Task == "" {
			k.errKey(p, "add task: <task name>", "schedule %s has no task", s.Name)
			continue
		}
		c.validateScheduleTask(k, s, p)
	}
}

func (c *Config) validateTargets(k checker, s *Schedule, p string) {
	if len(s.Targets) == 0 {
		k.errKey(p, "add targets: with - role: <role>, - tags: {k: v}, - host: <name> or - hosts: [a, b]", "schedule %s has no targets", s.Name)
		return
	}
	for i, t := range s.Targets {
		tp := fmt.Sprintf("%s.targets[%d]", p, i)
		set := 0
		for _, b := range []bool{t.Role != "", len(t.Tags) > 0, t.Host != "", len(t.Hosts) > 0} {
			if b {
				set++
			}
		}
		if set != 1 {
			k.err(tp, "write one of role:, tags:, host: or hosts: per list item", "a target must have exactly one of role, tags, host, hosts")
			continue
		}
		switch {
		case t.Role != "":
			if _, ok := c.Workers.Get(t.Role); !ok {
				k.err(tp+".role", "use a role defined under workers:"+suggest(t.Role, c.Workers.Keys()), "unknown role %q", t.Role)
			}
		case len(t.Tags) > 0:
			if len(c.TargetHosts([]Target{t})) == 0 {
				k.warn(tp+".tags", "tag a host with it (cl host update NAME --tag k=v) or fix the selector", "tag selector %s matches no host", t)
			}
		default:
			names := t.Hosts
			if t.Host != "" {
				names = []string{t.Host}
			}
			for _, n := range names {
				if _, ok := c.Hosts.Get(n); !ok {
					k.err(tp, "name a host defined under hosts:"+suggest(n, c.Hosts.Keys()), "unknown host %q", n)
				}
			}
		}
	}
}

// validateScheduleTask checks that every role the schedule reaches loads its
// task and that the task accepts the schedule's params.
func (c *Config) validateScheduleTask(k checker, s *Schedule, p string) {
	checked := map[*Task]bool{}
	for _, role := range c.ScheduleRoles(s) {
		res, err := c.ResolveTask(role, s.Task, s.Params)
		var noRole *ErrNoRole
		if errors.As(err, &noRole) {
			continue // reported by validateTargets
		}
		if err != nil {
			k.err(p+".task", fmt.Sprintf("add the module that defines it to workers.%s.tasks, or target only roles that load it", role), "role %s cannot run task %q: %v", role, s.Task, err)
			continue
		}
		if checked[res.Task] {
			continue
		}
		checked[res.Task] = true
		for _, e := range res.ParamErrors {
			path := p + ".params." + e.Param
			if _, given := s.Params[e.Param]; !given {
				path = p + ".task" // a required param is missing
			}
			k.err(path, "match the params declared in "+moduleFile(c, res.Task), "%v", e)
		}
	}
}

func moduleFile(c *Config, t *Task) string {
	if _, ok := c.Modules.Get(t.Module); ok {
		return "tasks/" + t.Module + ".yaml"
	}
	return "the built-in task"
}
