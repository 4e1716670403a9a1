package railwaytest

import (
	"encoding/json"
	"slices"
	"strconv"
)

// newDeploy starts a deployment of svc and decides how it will end, as the
// real runtime image would: no image fails the build; a runtime without a
// valid RUNTIME_CONFIG_JSON, or listening elsewhere than PORT, crashes.
// FailDeployments overrides the outcome.
func (st *state) newDeploy(svc *service) *deploy {
	d := &deploy{id: st.newID(), serviceID: svc.id, status: "QUEUED", createdAt: createdAt, outcome: "SUCCESS"}
	switch {
	case len(st.failNext) > 0:
		d.outcome, st.failNext = st.failNext[0], st.failNext[1:]
	case svc.image == "":
		d.outcome = "FAILED"
	case !runtimeStarts(svc.vars):
		d.outcome = "CRASHED"
	}
	svc.deploys = append(svc.deploys, d)
	st.deployments[d.id] = d
	return d
}

// runtimeStarts mirrors the runtime's own check of its configuration
// (services/runtime/internal/config): one JSON document whose required
// fields are set and which has no unknown field, listening on the PORT
// Railway routes to.
func runtimeStarts(vars map[string]string) bool {
	var cfg map[string]any
	if err := json.Unmarshal([]byte(vars["RUNTIME_CONFIG_JSON"]), &cfg); err != nil {
		return false
	}
	required := []string{"customer_id", "plan", "listen_addr", "database_url", "instance_id", "version"}
	optional := []string{"provider", "model", "dashboard_origin", "instance_token", "public_url", "engine"}
	for _, k := range required {
		if s, _ := cfg[k].(string); s == "" {
			return false
		}
	}
	for k := range cfg {
		if !slices.Contains(required, k) && !slices.Contains(optional, k) {
			return false
		}
	}
	return cfg["listen_addr"] == ":"+vars["PORT"]
}

func (st *state) serviceMap(s *service) map[string]any {
	return map[string]any{
		"id": s.id, "name": s.name, "projectId": st.o.ProjectID, "createdAt": createdAt, "updatedAt": createdAt,
		"isRestricted": false, "hasHiddenRegistryCredentialsFromTemplate": false, "featureFlags": []any{},
	}
}

func (st *state) instanceMap(s *service) map[string]any {
	domains := []any{}
	for _, d := range s.domains {
		domains = append(domains, st.domainMap(s, d))
	}
	active := []any{}
	var latest any
	if d := s.latest(); d != nil {
		latest = st.deployMap(d)
	}
	for _, d := range s.deploys {
		if d.status == "SUCCESS" && !d.stopped {
			active = append(active, st.deployMap(d))
		}
	}
	m := map[string]any{
		"id": "si-" + s.id, "serviceId": s.id, "serviceName": s.name, "environmentId": st.o.EnvironmentID,
		"builder": "RAILPACK", "restartPolicyType": s.restartPolicy, "restartPolicyMaxRetries": s.restartRetries,
		"createdAt": createdAt, "updatedAt": createdAt, "isUpdatable": true, "watchPatterns": []any{},
		"numReplicas": 1, "domains": map[string]any{"serviceDomains": domains, "customDomains": []any{}},
		"latestDeployment": latest, "activeDeployments": active, "service": st.serviceMap(s),
	}
	if s.healthcheck != nil {
		m["healthcheckPath"] = *s.healthcheck
	}
	if s.region != nil {
		m["region"] = *s.region
	}
	if s.image != "" {
		m["source"] = map[string]any{"image": s.image}
	}
	return m
}

func (st *state) domainMap(s *service, d *domain) map[string]any {
	m := map[string]any{
		"id": d.id, "domain": d.name, "environmentId": st.o.EnvironmentID, "serviceId": s.id,
		"projectId": st.o.ProjectID, "suffix": "up.railway.app", "syncStatus": "ACTIVE",
		"createdAt": createdAt, "updatedAt": createdAt,
	}
	if d.targetPort != nil {
		m["targetPort"] = *d.targetPort
	}
	return m
}

func (st *state) deployMap(d *deploy) map[string]any {
	m := map[string]any{
		"id": d.id, "status": d.status, "deploymentStopped": d.stopped, "serviceId": d.serviceID,
		"environmentId": st.o.EnvironmentID, "projectId": st.o.ProjectID, "createdAt": d.createdAt,
		"updatedAt": d.createdAt, "statusUpdatedAt": d.createdAt, "canRedeploy": true, "canRollback": false,
		"suggestAddServiceDomain": false, "instances": []any{}, "sockets": []any{},
	}
	if svc, _ := st.live(d.serviceID); svc != nil && len(svc.domains) > 0 {
		m["staticUrl"] = svc.domains[0].name
		m["url"] = "https://" + svc.domains[0].name
	}
	return m
}

// Seed adds n services (no source, no deployment) named prefix-<i>, as
// other tenants of the environment: the driver must page past them.
func (s *Server) Seed(prefix string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range n {
		s.st.services = append(s.st.services, &service{id: s.st.newID(), name: prefix + "-" + strconv.Itoa(i),
			restartPolicy: "ON_FAILURE", vars: map[string]string{}})
	}
}
