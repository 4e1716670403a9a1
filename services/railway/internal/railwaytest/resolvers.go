package railwaytest

import (
	"fmt"
	"strconv"
)

// resolve carries out root field name with its arguments and returns its
// value as plain maps and slices, which the executor checks against the
// schema and projects onto the selection.
func (st *state) resolve(name string, args map[string]any) (any, error) {
	switch name {
	case "environment":
		return st.environment(args)
	case "serviceInstance":
		if err := st.checkScope(nil, args["environmentId"]); err != nil {
			return nil, err
		}
		svc, err := st.live(str(args["serviceId"]))
		if err != nil {
			return nil, gqlErr("ServiceInstance not found")
		}
		return st.instanceMap(svc), nil
	case "deployment":
		d, ok := st.deployments[str(args["id"])]
		if !ok {
			return nil, gqlErr("Deployment not found")
		}
		st.advance(d)
		return st.deployMap(d), nil
	case "serviceCreate":
		return st.serviceCreate(obj(args["input"]))
	case "serviceInstanceUpdate":
		return st.instanceUpdate(args)
	case "serviceInstanceLimitsUpdate":
		return st.limitsUpdate(obj(args["input"]))
	case "serviceDomainCreate":
		return st.domainCreate(obj(args["input"]))
	case "variableCollectionUpsert":
		return st.variablesUpsert(obj(args["input"]))
	case "serviceInstanceDeployV2":
		return st.deploy(args)
	case "deploymentRestart", "deploymentStop", "deploymentRemove":
		return st.deploymentAction(name, str(args["id"]))
	case "serviceDelete":
		if err := st.checkScope(nil, args["environmentId"]); err != nil {
			return nil, err
		}
		svc, err := st.live(str(args["id"]))
		if err != nil {
			return nil, err
		}
		svc.deleted = true
		st.stopRuntime(svc.id)
		for _, d := range svc.deploys {
			d.status = "REMOVED"
		}
		return true, nil
	}
	return nil, gqlErr("railwaytest does not model %s", name)
}

// environment answers Query.environment, with its service instances as a
// paginated connection (cursor = position).
func (st *state) environment(args map[string]any) (any, error) {
	if err := st.checkScope(args["projectId"], args["id"]); err != nil {
		return nil, err
	}
	return map[string]any{
		"id": st.o.EnvironmentID, "name": "production", "projectId": st.o.ProjectID,
		"createdAt": createdAt, "updatedAt": createdAt, "isEphemeral": false, "canAccess": true,
		"serviceInstances": lazy(func(args map[string]any) (any, error) {
			var live []*service
			for _, s := range st.services {
				if !s.deleted {
					live = append(live, s)
				}
			}
			start := 0
			if after, ok := args["after"].(string); ok {
				n, err := strconv.Atoi(after)
				if err != nil {
					return nil, gqlErr("Invalid cursor")
				}
				start = n + 1
			}
			end := len(live)
			if first, ok := number(args["first"]); ok {
				end = min(end, start+int(first))
			}
			edges := []any{}
			for i := start; i < end; i++ {
				edges = append(edges, map[string]any{"cursor": strconv.Itoa(i), "node": st.instanceMap(live[i])})
			}
			page := map[string]any{"hasNextPage": end < len(live), "hasPreviousPage": start > 0}
			if end > start {
				page["startCursor"], page["endCursor"] = strconv.Itoa(start), strconv.Itoa(end-1)
			}
			return map[string]any{"edges": edges, "pageInfo": page}, nil
		}),
	}, nil
}

func (st *state) serviceCreate(in map[string]any) (any, error) {
	if err := st.checkScope(in["projectId"], in["environmentId"]); err != nil {
		return nil, err
	}
	if in["source"] != nil || in["variables"] != nil {
		// Not what the driver should do: with a source it would deploy at once.
		return nil, gqlErr("railwaytest: serviceCreate with a source or variables deploys at once")
	}
	svc := &service{id: st.newID(), name: str(in["name"]), restartPolicy: "ON_FAILURE", restartRetries: 10,
		vars: map[string]string{}}
	if svc.name == "" {
		svc.name = "service-" + strconv.Itoa(st.seq)
	}
	st.services = append(st.services, svc)
	return st.serviceMap(svc), nil
}

func (st *state) instanceUpdate(args map[string]any) (any, error) {
	if err := st.checkScope(nil, args["environmentId"]); err != nil {
		return nil, err
	}
	svc, err := st.live(str(args["serviceId"]))
	if err != nil {
		return nil, err
	}
	in := obj(args["input"])
	if src := obj(in["source"]); src != nil {
		svc.image = str(src["image"])
	}
	if v, ok := in["healthcheckPath"].(string); ok {
		svc.healthcheck = &v
	}
	if v, ok := in["restartPolicyType"].(string); ok {
		svc.restartPolicy = v
	}
	if v, ok := number(in["restartPolicyMaxRetries"]); ok {
		svc.restartRetries = int(v)
	}
	if v, ok := in["region"].(string); ok {
		svc.region = &v
	}
	return true, nil
}

func (st *state) limitsUpdate(in map[string]any) (any, error) {
	if err := st.checkScope(nil, in["environmentId"]); err != nil {
		return nil, err
	}
	svc, err := st.live(str(in["serviceId"]))
	if err != nil {
		return nil, err
	}
	for key, dst := range map[string]**float64{"vCPUs": &svc.vcpus, "memoryGB": &svc.memGB} {
		if v, ok := number(in[key]); ok {
			if v <= 0 || v > 32 {
				return nil, gqlErr("%s must be between 0 and 32", key)
			}
			*dst = &v
		}
	}
	return true, nil
}

func (st *state) domainCreate(in map[string]any) (any, error) {
	if err := st.checkScope(nil, in["environmentId"]); err != nil {
		return nil, err
	}
	svc, err := st.live(str(in["serviceId"]))
	if err != nil {
		return nil, err
	}
	d := &domain{id: st.newID(), name: fmt.Sprintf("%s-production-%04x.up.railway.app", svc.name, st.seq)}
	if st.runtimeMode() {
		if d.name, err = localDomain(); err != nil {
			return nil, err
		}
	}
	if p, ok := number(in["targetPort"]); ok {
		port := int(p)
		d.targetPort = &port
	}
	svc.domains = append(svc.domains, d)
	return st.domainMap(svc, d), nil
}

func (st *state) variablesUpsert(in map[string]any) (any, error) {
	if err := st.checkScope(in["projectId"], in["environmentId"]); err != nil {
		return nil, err
	}
	svc, err := st.live(str(in["serviceId"]))
	if err != nil {
		return nil, gqlErr("shared variables are not modelled: %v", err)
	}
	if replace, _ := in["replace"].(bool); replace {
		svc.vars = map[string]string{}
	}
	for k, v := range obj(in["variables"]) {
		svc.vars[k] = str(v)
	}
	if skip, _ := in["skipDeploys"].(bool); !skip && svc.image != "" {
		st.newDeploy(svc) // Railway redeploys the services whose variables changed
	}
	return true, nil
}

func (st *state) deploy(args map[string]any) (any, error) {
	if err := st.checkScope(nil, args["environmentId"]); err != nil {
		return nil, err
	}
	svc, err := st.live(str(args["serviceId"]))
	if err != nil {
		return nil, err
	}
	return st.newDeploy(svc).id, nil
}

func (st *state) deploymentAction(action, id string) (any, error) {
	d, ok := st.deployments[id]
	if !ok {
		return nil, gqlErr("Deployment not found")
	}
	switch action {
	case "deploymentRestart":
		if d.status != "SUCCESS" {
			return nil, gqlErr("Deployment is not running")
		}
		d.restarts++
		d.stopped = false
	case "deploymentStop":
		d.stopped = true
	case "deploymentRemove":
		d.status = "REMOVED"
	}
	if st.runtimeMode() {
		st.runtimeAction(action, d)
	}
	return true, nil
}

// str and obj read argument values (nil when absent).
func str(v any) string {
	s, _ := v.(string)
	return s
}

func obj(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}
