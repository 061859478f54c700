/**
 * The Kubernetes API shapes the webhook speaks: `admission.k8s.io/v1` AdmissionReview and
 * `imagepolicy.k8s.io/v1alpha1` ImageReview. Only the fields Portcullis reads or writes.
 */

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';
export const IMAGE_REVIEW_API_VERSION = 'imagepolicy.k8s.io/v1alpha1';

export interface GroupVersionKind {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
}

export interface GroupVersionResource {
  readonly group: string;
  readonly version: string;
  readonly resource: string;
}

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

export interface UserInfo {
  readonly username?: string;
  readonly uid?: string;
  readonly groups?: readonly string[];
}

export interface AdmissionRequest {
  readonly uid: string;
  readonly kind: GroupVersionKind;
  readonly resource: GroupVersionResource;
  readonly subResource?: string;
  readonly name?: string;
  readonly namespace?: string;
  readonly operation: Operation;
  readonly userInfo: UserInfo;
  readonly object?: unknown;
  readonly oldObject?: unknown;
  readonly dryRun?: boolean;
}

export interface AdmissionReviewRequest {
  readonly apiVersion: typeof ADMISSION_API_VERSION;
  readonly kind: 'AdmissionReview';
  readonly request: AdmissionRequest;
}

export interface AdmissionStatus {
  readonly code: number;
  readonly reason?: string;
  readonly message: string;
}

export interface AdmissionResponse {
  readonly uid: string;
  readonly allowed: boolean;
  readonly status?: AdmissionStatus;
  readonly warnings?: readonly string[];
  readonly patchType?: 'JSONPatch';
  /** base64 of the JSON Patch document. */
  readonly patch?: string;
  readonly auditAnnotations?: Readonly<Record<string, string>>;
}

export interface AdmissionReviewResponse {
  readonly apiVersion: typeof ADMISSION_API_VERSION;
  readonly kind: 'AdmissionReview';
  readonly response: AdmissionResponse;
}

export interface ImageReviewContainerSpec {
  readonly image: string;
}

export interface ImageReviewSpec {
  readonly containers: readonly ImageReviewContainerSpec[];
  readonly annotations?: Readonly<Record<string, string>>;
  readonly namespace?: string;
}

export interface ImageReviewRequest {
  readonly apiVersion: typeof IMAGE_REVIEW_API_VERSION;
  readonly kind: 'ImageReview';
  readonly spec: ImageReviewSpec;
}

export interface ImageReviewStatus {
  readonly allowed: boolean;
  readonly reason?: string;
  readonly auditAnnotations?: Readonly<Record<string, string>>;
}

export interface ImageReviewResponse {
  readonly apiVersion: typeof IMAGE_REVIEW_API_VERSION;
  readonly kind: 'ImageReview';
  readonly status: ImageReviewStatus;
}
