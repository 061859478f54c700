{{/* The one name every object shares (one Portcullis per cluster: the webhook configurations are cluster-wide). */}}
{{- define "portcullis.name" -}}portcullis{{- end -}}

{{- define "portcullis.labels" -}}
app.kubernetes.io/name: portcullis
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* What the Service, the PodDisruptionBudget and the spread constraints select. */}}
{{- define "portcullis.selectorLabels" -}}
app.kubernetes.io/name: portcullis
app.kubernetes.io/component: webhook
{{- end -}}

{{- define "portcullis.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* What the controller's Deployment and metrics Service select; never the webhook's pods. */}}
{{- define "portcullis.controllerSelectorLabels" -}}
app.kubernetes.io/name: portcullis
app.kubernetes.io/component: controller
{{- end -}}

{{/* The controller runs the webhook's image unless controller.image says otherwise. */}}
{{- define "portcullis.controllerImage" -}}
{{ .Values.controller.image.repository | default .Values.image.repository }}:{{ .Values.controller.image.tag | default .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "portcullis.policyConfigMap" -}}
{{ .Values.policyConfigMap | default "portcullis-policies" }}
{{- end -}}

{{- define "portcullis.tlsSecret" -}}portcullis-tls{{- end -}}

{{/* The webhook's internal deadline: a second under timeoutSeconds (half of it below 3 s). */}}
{{- define "portcullis.deadline" -}}
{{- $t := int .Values.webhook.timeoutSeconds -}}
{{- if ge $t 3 }}{{ sub $t 1 }}{{ else }}{{ divf $t 2 }}{{ end -}}
{{- end -}}

{{- define "portcullis.validate" -}}
{{- if or (eq .Release.Namespace "default") (hasPrefix "kube-" .Release.Namespace) }}{{ fail "install Portcullis into a namespace of its own (not default or kube-*): it is excluded from the webhooks" }}{{ end -}}
{{- if lt (int .Values.replicas) 2 }}{{ fail "replicas must be at least 2 (a PodDisruptionBudget of 1 would block every node drain)" }}{{ end -}}
{{- $t := int .Values.webhook.timeoutSeconds -}}
{{- if or (lt $t 1) (gt $t 30) }}{{ fail "webhook.timeoutSeconds must be 1-30" }}{{ end -}}
{{- if not (has .Values.webhook.failurePolicy (list "Fail" "Ignore")) }}{{ fail "webhook.failurePolicy must be Fail or Ignore" }}{{ end -}}
{{- if and (not .Values.policyConfigMap) (empty .Values.policies) -}}
{{ fail "no policies: set policies (files for the ConfigMap) or policyConfigMap (your own); without policies the webhook would deny every image" }}
{{- end -}}
{{- if and .Values.policyConfigMap (not (empty .Values.policies)) }}{{ fail "set either policies or policyConfigMap, not both" }}{{ end -}}
{{- if .Values.controller.enabled -}}
{{- $i := toString .Values.controller.interval -}}
{{- $bad := "controller.interval must be a duration between 10s and 24h (e.g. 90s, 10m, 1h)" -}}
{{- if not (regexMatch "^[0-9]{1,6}[smh]?$" $i) }}{{ fail $bad }}{{ end -}}
{{- $seconds := mul (atoi (regexFind "^[0-9]+" $i)) (get (dict "s" 1 "m" 60 "h" 3600) (regexFind "[smh]$" $i | default "s")) -}}
{{- if or (lt $seconds 10) (gt $seconds 86400) }}{{ fail $bad }}{{ end -}}
{{- end -}}
{{- end -}}

{{/* The webhooks' shared settings; `path` is /validate or /mutate, `caBundle` empty with cert-manager. */}}
{{- define "portcullis.webhook" -}}
{{- $root := .root -}}
- name: {{ .name }}
  clientConfig:
    service:
      namespace: {{ $root.Release.Namespace }}
      name: {{ include "portcullis.name" $root }}
      path: {{ .path }}
      port: 443
    {{- if .caBundle }}
    caBundle: {{ .caBundle }}
    {{- end }}
  rules:
    - apiGroups: [""]
      apiVersions: ["*"]
      operations: [CREATE, UPDATE]
      resources: [pods, pods/ephemeralcontainers, replicationcontrollers]
      scope: Namespaced
    - apiGroups: [apps]
      apiVersions: ["*"]
      operations: [CREATE, UPDATE]
      resources: [deployments, replicasets, statefulsets, daemonsets]
      scope: Namespaced
    - apiGroups: [batch]
      apiVersions: ["*"]
      operations: [CREATE, UPDATE]
      resources: [jobs, cronjobs]
      scope: Namespaced
  # Its own namespace is excluded so the webhook can always be restarted.
  namespaceSelector:
    matchExpressions:
      - key: kubernetes.io/metadata.name
        operator: NotIn
        values:
          {{- toYaml (uniq (concat (list "kube-system" $root.Release.Namespace) $root.Values.webhook.excludeNamespaces)) | nindent 10 }}
  matchPolicy: Equivalent
  failurePolicy: {{ $root.Values.webhook.failurePolicy }}
  sideEffects: None
  timeoutSeconds: {{ int $root.Values.webhook.timeoutSeconds }}
  admissionReviewVersions: [v1]
  {{- if .mutating }}
  reinvocationPolicy: IfNeeded
  {{- end }}
{{- end -}}
